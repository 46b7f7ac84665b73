/**
 * `mlship deploy` against the real things this machine has: the built image run under the Docker equivalents of the
 * pod's restrictions (read-only root, tmpfs for the emptyDirs, no capabilities, no privilege escalation, the pod's
 * user, its CPU limit), and the registry the manifests resolve the image digest in. No cluster runs here.
 */
import {build as esbuild} from 'esbuild'
import {execa} from 'execa'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {availableParallelism, tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildImage} from '../image/build-image.js'
import {waitReady} from '../container/container.js'
import type {DockerEngine} from '../docker/engine.js'
import {baseImageForTests, EngineCleanup, engineForTests, uniqueName} from '../docker/test-support/engine.js'
import {readSample} from '../monitoring/test-support/exposition.js'
import {
  deleteRepository,
  importTinyImage,
  loggedInDockerConfig,
  mlship,
  registryTestEnv,
  removeLocalReferences,
  uniqueRepository,
} from '../registry/test-support/env.js'
import {deploy} from './deploy.js'
import {dockerRunFlags} from './docker-equivalent.js'
import {fixedImageResolver} from './image.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const {engine, skipReason} = await engineForTests()
if (skipReason) console.warn(`skipping the deploy integration tests: ${skipReason}`)

async function irisCopy(extra: string): Promise<{dir: string; model: string}> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mlship-deploy-it-'))
  const model = path.join(dir, 'iris')
  await cp(path.join(repoRoot, 'examples/iris'), model, {recursive: true})
  const file = path.join(model, 'model.yaml')
  await writeFile(file, `${await readFile(file, 'utf8')}${extra}`)
  return {dir, model}
}

describe.skipIf(!engine)('the image under the restrictions of its pod', () => {
  const docker = engine as DockerEngine
  let cleanup: EngineCleanup | undefined
  let image: string
  let dir: string
  let model: string
  const name = uniqueName('mlship-it-deploy')

  beforeAll(async () => {
    cleanup = new EngineCleanup(docker)
    ;({dir, model} = await irisCopy('deploy:\n  resources: {limits: {cpu: 1}}\n'))
    const built = await buildImage({
      baseImage: await baseImageForTests(docker),
      dir: model,
      engine: docker,
      tags: [cleanup.image(`${name}:1.0.0`)],
    })
    image = built.tags[0]!
  })

  afterAll(async () => {
    await cleanup?.run()
    if (dir) await rm(dir, {force: true, recursive: true})
  })

  it('serves predictions, answers its probes on its container port, and runs one worker on 1 CPU', async () => {
    const {objects, summary} = await deploy({
      action: {type: 'deploy'},
      dir: model,
      format: 'kubernetes',
      images: fixedImageResolver(image),
      write: false,
    })
    expect(summary.workers).toBe(1)
    const deployment = objects.find((o) => o.kind === 'Deployment')!
    const flags = dockerRunFlags(deployment)
    expect(flags).toEqual(expect.arrayContaining(['--read-only', '--cap-drop', 'ALL', '--user', '1000:1000']))

    const {stdout} = await execa('docker', ['run', '--detach', '--name', name, ...flags, image])
    const id = stdout.trim()
    cleanup!.container(id)
    const container = (deployment.spec as {template: {spec: {containers: Array<Record<string, any>>}}}).template.spec
      .containers[0]!
    const containerPort = container.ports[0].containerPort as number
    const published = (await execa('docker', ['port', id, `${containerPort}/tcp`])).stdout.split('\n')[0]!.trim()
    const url = `http://${published}`
    await waitReady({
      container: {hostIp: '127.0.0.1', hostPort: 0, id, image, name, url},
      engine: docker,
      timeoutMs: 120_000,
    })

    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const response = await fetch(`${url}${container[probe].httpGet.path as string}`)
      expect(response.status, probe).toBe(200)
    }
    const predicted = await fetch(`${url}/predict`, {
      body: JSON.stringify({
        features: [
          [5.1, 3.5, 1.4, 0.2],
          [6.7, 3, 5.2, 2.3],
        ],
      }),
      headers: {'content-type': 'application/json'},
      method: 'POST',
    })
    expect(predicted.status).toBe(200)
    expect(((await predicted.json()) as {labels: string[]}).labels).toEqual(['setosa', 'virginica'])
    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(readSample(metrics, 'mlship_inference_workers')).toBe(1)

    const [inspected] = JSON.parse((await execa('docker', ['inspect', id])).stdout) as Array<{
      Config: {User: string}
      HostConfig: {ReadonlyRootfs: boolean; CapDrop: string[]; SecurityOpt: string[]; NanoCpus: number}
    }>
    expect(inspected!.Config.User).toBe('1000:1000')
    expect(inspected!.HostConfig).toMatchObject({CapDrop: ['ALL'], NanoCpus: 1e9, ReadonlyRootfs: true})
    expect(inspected!.HostConfig.SecurityOpt).toContain('no-new-privileges')
  })
})

/**
 * On a 2-core machine `workers: auto` is 1 with `--cpus 1` and without it alike (one per CPU but one), so the test
 * above cannot tell a quota that was read from one that was not: here the CPU count itself is read inside a container.
 */
describe.skipIf(!engine)('the CPUs the server sizes itself from, inside a container', () => {
  const docker = engine as DockerEngine
  let dir: string
  let baseImage: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-deploy-cpus-'))
    baseImage = await baseImageForTests(docker)
    await esbuild({
      bundle: true,
      entryPoints: [path.join(repoRoot, 'src/serving/cpus.ts')],
      format: 'esm',
      outfile: path.join(dir, 'cpus.mjs'),
      platform: 'node',
    })
    await writeFile(path.join(dir, 'print.mjs'), "import {usableCpus} from './cpus.mjs'\nconsole.log(usableCpus())\n")
  })
  afterAll(async () => {
    if (dir) await rm(dir, {force: true, recursive: true})
  })

  const usableIn = async (flags: string[]) =>
    Number(
      (
        await execa('docker', [
          'run',
          '--rm',
          ...flags,
          '--volume',
          `${dir}:/probe:ro`,
          '--entrypoint',
          'node',
          baseImage,
          '/probe/print.mjs',
        ])
      ).stdout.trim(),
    )

  it("follows the container's CPU quota (cgroup cpu.max), not the host's cores", async () => {
    const host = availableParallelism()
    expect(await usableIn(['--cpus', '1'])).toBe(1)
    expect(await usableIn(['--cpus', '1.5'])).toBe(Math.min(2, host))
    expect(await usableIn([])).toBe(host)
  })
})

const registry = registryTestEnv()

describe.skipIf(!registry)('mlship deploy resolves the image digest in the registry', () => {
  const env = registry!
  const repository = uniqueRepository('deploy')
  let dockerConfig: {dir: string; cleanup: () => Promise<void>} | undefined
  let dir: string
  let model: string
  let digest: string

  beforeAll(async () => {
    dockerConfig = await loggedInDockerConfig(env)
    ;({dir, model} = await irisCopy(`registry:\n  host: ${env.host}\n  repository: ${repository}\n`))
    const tag = `${env.host}/${repository}:1.0.0`
    await importTinyImage(tag, `mlship deploy test ${repository}`)
    await execa('docker', ['push', tag], {env: {DOCKER_CONFIG: dockerConfig.dir}})
    const {stdout} = await execa('docker', ['inspect', '--format', '{{index .RepoDigests 0}}', tag])
    digest = stdout.trim().split('@')[1]!
  })

  afterAll(async () => {
    await deleteRepository(env, repository)
    await removeLocalReferences(`${env.host}/${repository}`)
    await dockerConfig?.cleanup()
    if (dir) await rm(dir, {force: true, recursive: true})
  })

  it('names the pushed version by its digest', async () => {
    const {exitCode, stdout} = await mlship(['deploy', model, '--print'], {env: {DOCKER_CONFIG: dockerConfig!.dir}})
    expect(exitCode).toBe(0)
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/)
    expect(stdout).toContain(`image: ${env.host}/${repository}@${digest}`)
  })

  it('refuses a version that was never pushed (exit 2), unless --image names one', async () => {
    const file = path.join(model, 'model.yaml')
    await writeFile(file, (await readFile(file, 'utf8')).replace(/^version: .*$/m, 'version: 9.9.9'))
    const refused = await mlship(['deploy', model, '--json'], {env: {DOCKER_CONFIG: dockerConfig!.dir}})
    expect(refused.exitCode).toBe(2)
    const {error} = JSON.parse(refused.stdout)
    expect(error).toMatchObject({code: 'VERSION_NOT_PUSHED', exitCode: 2})
    expect(error.message).toContain('never pushed')
    expect(error.details.knownTags).toEqual(['1.0.0'])

    const given = await mlship(['deploy', model, '--print', '--image', `${env.host}/${repository}@${digest}`], {
      env: {DOCKER_CONFIG: dockerConfig!.dir},
    })
    expect(given.exitCode).toBe(0)
  })
})
