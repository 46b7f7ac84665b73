import {execa} from 'execa'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runContainer, waitReady} from '../container/container.js'
import type {DockerEngine} from '../docker/engine.js'
import {baseImageForTests, dockerodeForTests, EngineCleanup, engineForTests} from '../docker/test-support/engine.js'
import {RegistryClient} from './client.js'
import {
  closedPort,
  deleteRepository,
  loggedInDockerConfig,
  mlship,
  removeLocalReferences,
  REPO_ROOT,
  registryTestEnv,
  retag,
  uniqueRepository,
} from './test-support/env.js'

const registry = registryTestEnv()
const {engine, skipReason} = await engineForTests()

describe.skipIf(!registry || !engine)(
  `mlship push and rollback of examples/iris against the real registry${skipReason ? ` (${skipReason})` : ''}`,
  () => {
    const env = registry!
    const repository = uniqueRepository('push')
    const target = `${env?.host}/${repository}`
    let dir: string
    let baseImage: string
    let dockerConfig: {dir: string; cleanup: () => Promise<void>}
    let childEnv: NodeJS.ProcessEnv
    let client: RegistryClient
    let cleanup: EngineCleanup
    const pushed: Record<string, {digest: string; tags: string[]}> = {}

    const setVersion = async (version: string) => {
      const file = path.join(dir, 'model.yaml')
      await writeFile(file, (await readFile(file, 'utf8')).replace(/^version: .*$/m, `version: ${version}`))
    }
    const retrain = async (note: string) => {
      const file = path.join(dir, 'model.onnx')
      await writeFile(file, retag(await readFile(file), note))
    }
    const commit = async (message: string) => {
      await execa('git', ['-C', dir, 'add', '-A'])
      await execa('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', message])
      return (await execa('git', ['-C', dir, 'rev-parse', '--short=7', 'HEAD'])).stdout.trim()
    }
    const pushCli = (...extra: string[]) =>
      mlship(['push', dir, '--registry', target, '--base-image', baseImage, '--json', ...extra], {env: childEnv})

    beforeAll(async () => {
      baseImage = await baseImageForTests(engine!)
      cleanup = new EngineCleanup(engine!)
      dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-push-'))
      await cp(path.join(REPO_ROOT, 'examples/iris'), dir, {recursive: true})
      // A model name of its own: rollback replaces every served container of the model, and other tests on this
      // engine serve iris-classifier too.
      const yaml = path.join(dir, 'model.yaml')
      await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/^name: .*$/m, `name: ${path.basename(repository)}`))
      await execa('git', ['-C', dir, 'init', '-q'])
      await commit('iris')
      dockerConfig = await loggedInDockerConfig(env)
      childEnv = {...process.env, DOCKER_CONFIG: dockerConfig.dir}
      client = new RegistryClient({
        credentials: {password: env.password, username: env.user},
        host: env.host,
        repository,
      })
    })

    afterAll(async () => {
      await cleanup?.run()
      await deleteRepository(env, repository)
      await removeLocalReferences(target)
      await dockerConfig?.cleanup()
      await rm(dir, {force: true, recursive: true})
    })

    it('pushes 1.0.0 (building first) with latest and the git sha, as the registry API shows', async () => {
      const sha = (await execa('git', ['-C', dir, 'rev-parse', '--short=7', 'HEAD'])).stdout.trim()
      const {exitCode, stderr, stdout} = await pushCli()
      expect(exitCode, stderr).toBe(0)
      const result = JSON.parse(stdout)
      expect(result).toMatchObject({image: target, tags: ['1.0.0', 'latest', sha], version: '1.0.0'})
      expect(result.digest).toMatch(/^sha256:[a-f0-9]{64}$/)
      // Layers other repositories of this registry already hold are mounted, not uploaded: count both.
      expect(result.layers.pushed + result.layers.reused).toBeGreaterThanOrEqual(4)
      for (const tag of result.tags) expect(await client.manifestDigest(tag)).toBe(result.digest)
      pushed['1.0.0'] = result
    })

    it('a new model as 1.1.0 uploads only the changed layers; the credentials come from --password-stdin and never show', async () => {
      await retrain('retrained for 1.1.0')
      await setVersion('1.1.0')
      await commit('1.1.0')
      const {exitCode, stderr, stdout} = await mlship(
        [
          'push',
          dir,
          '--registry',
          target,
          '--base-image',
          baseImage,
          '--json',
          '--username',
          env.user,
          '--password-stdin',
        ],
        {env: {...process.env, DOCKER_CONFIG: path.join(dir, 'no-docker-config')}, input: `${env.password}\n`},
      )
      expect(exitCode, stderr).toBe(0)
      expect(stdout + stderr).not.toContain(env.password)
      const result = JSON.parse(stdout)
      expect(result.built).toBe(true)
      // The runtime layers (node_modules, server) and the base image's are already there: only model and config travel.
      expect(result.layers.pushed).toBeLessThanOrEqual(3)
      expect(result.layers.reused).toBeGreaterThanOrEqual(3)
      expect(result.digest).not.toBe(pushed['1.0.0']!.digest)
      expect(await client.manifestDigest('latest')).toBe(result.digest)
      pushed['1.1.0'] = result
    })

    it('versions lists both, newest first, with latest marked', async () => {
      const {exitCode, stdout} = await mlship(['versions', dir, '--registry', target, '--json'], {env: childEnv})
      expect(exitCode).toBe(0)
      const result = JSON.parse(stdout)
      expect(
        result.versions.map((v: {version: string; digest: string; latest: boolean}) => [v.version, v.digest, v.latest]),
      ).toEqual([
        ['1.1.0', pushed['1.1.0']!.digest, true],
        ['1.0.0', pushed['1.0.0']!.digest, false],
      ])
      expect(result.versions[0].sizeBytes).toBeGreaterThan(1_000_000)
      // The labels come from the config blob, without pulling: different models, and the commit each was built from.
      expect(result.versions[0].modelSha256).toMatch(/^[a-f0-9]{64}$/)
      expect(result.versions[0].modelSha256).not.toBe(result.versions[1].modelSha256)
      expect(result.versions[0].revision).toMatch(/^[a-f0-9]{40}$/)
    })

    it('a version tag is immutable: the same image again is a no-op, another image is refused (exit 6) unless --force', async () => {
      const same = await pushCli()
      expect(same.exitCode, same.stderr).toBe(0)
      expect(JSON.parse(same.stdout)).toMatchObject({alreadyPushed: true, digest: pushed['1.1.0']!.digest})

      const file = path.join(dir, 'model.yaml')
      await writeFile(
        file,
        (await readFile(file, 'utf8')).replace(/^description: .*$/m, 'description: changed without a new version'),
      )
      const refused = await pushCli()
      expect(refused.exitCode).toBe(6)
      const {error} = JSON.parse(refused.stdout)
      expect(error.code).toBe('VERSION_EXISTS')
      expect(error.suggestions.join(' ')).toMatch(/--force/)
      expect(await client.manifestDigest('1.1.0')).toBe(pushed['1.1.0']!.digest)

      const forced = await pushCli('--force')
      expect(forced.exitCode, forced.stderr).toBe(0)
      const result = JSON.parse(forced.stdout)
      expect(result).toMatchObject({replaced: true})
      expect(result.digest).not.toBe(pushed['1.1.0']!.digest)
      expect(await client.manifestDigest('1.1.0')).toBe(result.digest)
      pushed['1.1.0'] = result
    })

    it('rollback moves latest back to 1.0.0 and swaps a served 1.1.0 container without downtime', async () => {
      const served = await runContainer({containerPort: 8080, engine: engine!, hostPort: 0, image: `${target}:1.1.0`})
      cleanup.container(served.id)
      await waitReady({container: served, engine: engine!, timeoutMs: 60_000})

      // Requests keep going to the old container during the swap: it must answer until the new one is ready.
      let firstFailure: number | undefined
      let answered = 0
      let stop = false
      const traffic = (async () => {
        while (!stop && firstFailure === undefined) {
          const ok = await fetch(`${served.url}/health`, {signal: AbortSignal.timeout(2000)})
            .then((r) => r.ok)
            .catch(() => false)
          if (ok) answered++
          else firstFailure = Date.now()
          await new Promise((r) => setTimeout(r, 50))
        }
      })()

      const {exitCode, stderr, stdout} = await mlship(['rollback', dir, '1.0.0', '--registry', target, '--json'], {
        env: childEnv,
      })
      stop = true
      await traffic
      expect(exitCode, stderr).toBe(0)
      const result = JSON.parse(stdout)
      expect(result).toMatchObject({
        digest: pushed['1.0.0']!.digest,
        moved: true,
        previousDigest: pushed['1.1.0']!.digest,
      })
      expect(await client.manifestDigest('latest')).toBe(pushed['1.0.0']!.digest)

      for (const c of result.containers) cleanup.container(c.newId)
      expect(result.containers).toHaveLength(1)
      const swap = result.containers[0]
      expect(swap.oldId).toBe(served.id)
      const replacement = await engine!.containers.inspect(swap.newId)
      expect(replacement?.imageId).toBe((await engine!.images.inspect(`${target}:1.0.0`))?.id)
      expect(replacement?.running).toBe(true)
      expect((await fetch(`${swap.url}/health`)).ok).toBe(true)
      const old = await engine!.containers.inspect(served.id)
      expect(old?.running ?? false).toBe(false)
      // No downtime: the old container answered until the new one had started and was ready (start-first).
      expect(answered).toBeGreaterThan(0)
      expect(firstFailure).toBeDefined()
      // When the replacement started is only a test's question: it asks the engine itself.
      const started = (await dockerodeForTests().getContainer(swap.newId).inspect()).State.StartedAt
      const newReadyAt = Date.parse(started) + swap.readyMs
      expect(firstFailure!).toBeGreaterThanOrEqual(newReadyAt - 250)
    })

    it('a wrong password: exit 6 naming the registry and the fix, no tag created, the password never shows', async () => {
      await setVersion('1.2.0')
      const secret = 'wrong-password-for-the-test-0815'
      const {exitCode, stderr, stdout} = await mlship(
        [
          'push',
          dir,
          '--registry',
          target,
          '--base-image',
          baseImage,
          '--json',
          '--username',
          env.user,
          '--password-stdin',
        ],
        {env: childEnv, input: secret},
      )
      expect(exitCode).toBe(6)
      const {error} = JSON.parse(stdout)
      expect(error.code).toBe('REGISTRY_AUTH')
      expect(error.message).toContain(env.host)
      expect(error.suggestions.join(' ')).toContain(`mlship login ${env.host}`)
      expect(stdout + stderr).not.toContain(secret)
      expect(await client.manifestDigest('1.2.0')).toBeUndefined()
    })

    it('a registry that does not answer: retried with backoff, then exit 6', async () => {
      // A port where nothing listens stands for a stopped registry; the shared one keeps running for other tests.
      const {exitCode, stdout} = await mlship(
        ['push', dir, '--registry', `127.0.0.1:${await closedPort()}/iris`, '--base-image', baseImage, '--json'],
        {env: childEnv},
      )
      expect(exitCode).toBe(6)
      const {error} = JSON.parse(stdout)
      expect(error.code).toBe('REGISTRY_UNREACHABLE')
      expect(error.message).toContain('connection refused')
      expect(error.details.attempts).toBeGreaterThan(1)
    })
  },
)

export type {DockerEngine}
