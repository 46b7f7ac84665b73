/**
 * serving.auth in the image, as a pod runs it: the manifests `mlship deploy` renders, run under their Docker
 * equivalents with a host folder standing in for the Secret volume. Keys are checked, a rotated file is picked up
 * without a restart, and the container's own logs never hold a key.
 */
import {execa} from 'execa'
import {chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildImage} from '../image/build-image.js'
import {waitReady} from '../container/container.js'
import {serveInContainer} from '../container/serve-container.js'
import type {DockerEngine} from '../docker/engine.js'
import {baseImageForTests, EngineCleanup, engineForTests, uniqueName} from '../docker/test-support/engine.js'
import {deploy} from './deploy.js'
import {dockerRunFlags} from './docker-equivalent.js'
import {fixedImageResolver} from './image.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const {engine, skipReason} = await engineForTests()
if (skipReason) console.warn(`skipping the API keys integration tests: ${skipReason}`)

const KEY_OLD = 'image-old-key-1c2d3e4f5a6b7c8d9e0f'
const KEY_NEW = 'image-new-key-9e8d7c6b5a4f3e2d1c0b'
const BODY = JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]})

describe.skipIf(!engine)('the image with serving.auth on, keys from its mounted Secret', () => {
  const docker = engine as DockerEngine
  let cleanup: EngineCleanup | undefined
  let dir: string
  let model: string
  let image: string
  const name = uniqueName('mlship-it-auth')

  beforeAll(async () => {
    cleanup = new EngineCleanup(docker)
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-auth-it-'))
    model = path.join(dir, 'iris')
    await cp(path.join(repoRoot, 'examples/iris'), model, {recursive: true})
    const file = path.join(model, 'model.yaml')
    const yaml = (await readFile(file, 'utf8')).replace(
      'serving:\n',
      'serving:\n  auth: {enabled: true, reload_interval_s: 1}\n',
    )
    await writeFile(file, yaml)
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

  it('needs a key on /predict and not on its probes; rotation through the file needs no restart; no key in its logs', async () => {
    const {objects, summary} = await deploy({
      action: {type: 'deploy'},
      dir: model,
      format: 'kubernetes',
      images: fixedImageResolver(image),
      write: false,
    })
    expect(JSON.stringify(objects)).not.toContain(KEY_OLD)
    const secretDir = path.join(dir, 'secret')
    await mkdir(secretDir)
    // The server runs as 1000 in the container: the stand-in for the Secret must be readable by it.
    await chmod(dir, 0o755)
    await chmod(secretDir, 0o755)
    const keysFile = path.join(secretDir, summary.apiKeys!.key)
    await writeFile(keysFile, `${KEY_OLD}\n`, {mode: 0o644})

    const deployment = objects.find((o) => o.kind === 'Deployment')!
    const flags = dockerRunFlags(deployment, {secrets: {[summary.apiKeys!.secret]: secretDir}})
    const {stdout} = await execa('docker', ['run', '--detach', '--name', name, ...flags, image])
    const id = stdout.trim()
    cleanup!.container(id)
    const container = (deployment.spec as {template: {spec: {containers: Array<Record<string, any>>}}}).template.spec
      .containers[0]!
    const published = (await execa('docker', ['port', id, `${container.ports[0].containerPort as number}/tcp`])).stdout
      .split('\n')[0]!
      .trim()
    const url = `http://${published}`
    await waitReady({
      container: {hostIp: '127.0.0.1', hostPort: 0, id, image, name, url},
      engine: docker,
      timeoutMs: 120_000,
    })

    const predict = async (headers: Record<string, string>) =>
      (
        await fetch(`${url}/predict`, {
          body: BODY,
          headers: {'content-type': 'application/json', ...headers},
          method: 'POST',
        })
      ).status
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect((await fetch(`${url}${container[probe].httpGet.path as string}`)).status, probe).toBe(200)
    }
    expect(await predict({})).toBe(401)
    expect(await predict({authorization: `Bearer ${KEY_NEW}`})).toBe(401)
    expect(await predict({authorization: `Bearer ${KEY_OLD}`})).toBe(200)

    // A Secret update: the new key beside the old one, then the old one gone; the server re-reads every second.
    await writeFile(keysFile, `${KEY_OLD}\n${KEY_NEW}\n`)
    await expect.poll(() => predict({'x-api-key': KEY_NEW}), {interval: 250, timeout: 30_000}).toBe(200)
    expect(await predict({authorization: `Bearer ${KEY_OLD}`})).toBe(200)
    await writeFile(keysFile, `${KEY_NEW}\n`)
    await expect.poll(() => predict({authorization: `Bearer ${KEY_OLD}`}), {interval: 250, timeout: 30_000}).toBe(401)
    expect(await predict({authorization: `Bearer ${KEY_NEW}`})).toBe(200)

    const logs = await execa('docker', ['logs', id])
    const logged = `${logs.stdout}\n${logs.stderr}`
    expect(logged).toContain('API keys required')
    expect(logged).toContain('API keys reloaded')
    for (const key of [KEY_OLD, KEY_NEW]) expect(logged).not.toContain(key)
  })

  it('`mlship serve` passes the keys of its environment on to the container', async () => {
    // Without them the server in the image would refuse to start: auth on and no key anywhere.
    const served = await serveInContainer({
      detach: true,
      dir: model,
      engine: docker,
      env: {MLSHIP_API_KEYS: KEY_NEW, UNRELATED_SECRET: KEY_OLD},
      image,
      name: `${name}-serve`,
      port: 0,
    })
    cleanup!.container(served.container.id)
    const predict = async (headers: Record<string, string>) =>
      (
        await fetch(`${served.url}/predict`, {
          body: BODY,
          headers: {'content-type': 'application/json', ...headers},
          method: 'POST',
        })
      ).status
    expect(await predict({})).toBe(401)
    expect(await predict({authorization: `Bearer ${KEY_OLD}`})).toBe(401)
    expect(await predict({authorization: `Bearer ${KEY_NEW}`})).toBe(200)
  })
})
