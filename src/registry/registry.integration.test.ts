import {execa} from 'execa'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {RegistryClient} from './client.js'
import {
  closedPort,
  deleteRepository,
  importTinyImage,
  loggedInDockerConfig,
  mlship,
  registryTestEnv,
  removeLocalReferences,
  uniqueRepository,
} from './test-support/env.js'

const env = registryTestEnv()

describe.skipIf(!env)('versions, rollback and login against the real registry', () => {
  const registry = env!
  const repository = uniqueRepository('versions')
  const target = env ? `${env.host}/${repository}` : ''
  let dockerConfig: {dir: string; cleanup: () => Promise<void>}
  let childEnv: NodeJS.ProcessEnv
  const digests: Record<string, string> = {}

  async function dockerPush(version: string, content: string): Promise<string> {
    const tag = `${target}:${version}`
    await importTinyImage(tag, content)
    const {stdout} = await execa('docker', ['--config', dockerConfig.dir, 'push', tag])
    return /digest: (sha256:[a-f0-9]{64})/.exec(stdout)![1]!
  }

  beforeAll(async () => {
    dockerConfig = await loggedInDockerConfig(registry)
    childEnv = {...process.env, DOCKER_CONFIG: dockerConfig.dir}
    // Given two versions in the registry, the newer one also tagged latest
    digests['1.0.0'] = await dockerPush('1.0.0', `one ${repository}`)
    digests['1.1.0'] = await dockerPush('1.1.0', `two ${repository}`)
    await execa('docker', ['tag', `${target}:1.1.0`, `${target}:latest`])
    await execa('docker', ['--config', dockerConfig.dir, 'push', `${target}:latest`])
  })

  afterAll(async () => {
    await deleteRepository(registry, repository)
    await removeLocalReferences(target)
    await (dockerConfig as typeof dockerConfig | undefined)?.cleanup()
  })

  it('versions lists both versions with digests, sizes and creation times, and marks latest', async () => {
    const {exitCode, stdout} = await mlship(['versions', '--registry', target, '--json'], {env: childEnv})
    expect(exitCode).toBe(0)
    const result = JSON.parse(stdout)
    expect(result.versions.map((v: {version: string}) => v.version)).toEqual(['1.1.0', '1.0.0'])
    expect(result.latest).toBe(digests['1.1.0'])
    expect(result.versions[0]).toMatchObject({digest: digests['1.1.0'], latest: true, tags: ['1.1.0', 'latest']})
    expect(result.versions[1]).toMatchObject({digest: digests['1.0.0'], latest: false, tags: ['1.0.0']})
    for (const v of result.versions) {
      expect(v.sizeBytes).toBeGreaterThan(0)
      expect(Date.parse(v.created)).toBeGreaterThan(Date.parse('2020-01-01'))
    }

    const table = await mlship(['versions', '--registry', target], {env: childEnv})
    expect(table.stdout).toMatch(/^\*\s+1\.1\.0\s+sha256:/m)
  })

  it('rollback points latest at the old manifest, as the registry API then shows, without pushing layers', async () => {
    const {exitCode, stdout} = await mlship(['rollback', '1.0.0', '--registry', target, '--json'], {env: childEnv})
    expect(exitCode).toBe(0)
    expect(JSON.parse(stdout)).toMatchObject({
      digest: digests['1.0.0'],
      moved: true,
      previousDigest: digests['1.1.0'],
      version: '1.0.0',
    })

    const client = new RegistryClient({
      credentials: {password: registry.password, username: registry.user},
      host: registry.host,
      repository,
    })
    expect(await client.manifestDigest('latest')).toBe(digests['1.0.0'])

    // A second rollback to the same version changes nothing.
    const again = await mlship(['rollback', '1.0.0', '--registry', target, '--json'], {env: childEnv})
    expect(JSON.parse(again.stdout)).toMatchObject({moved: false})
  })

  it('rollback refuses a version that does not exist and lists those that do (exit 2)', async () => {
    const {exitCode, stdout} = await mlship(['rollback', '9.9.9', '--registry', target, '--json'], {env: childEnv})
    expect(exitCode).toBe(2)
    const {error} = JSON.parse(stdout)
    expect(error.code).toBe('VERSION_NOT_FOUND')
    expect(error.details.known).toEqual(['1.1.0', '1.0.0'])
    expect(error.suggestions.join(' ')).toContain('1.1.0, 1.0.0')
  })

  it('rollback refuses a version that is a path into another repository (exit 2); neither repository changes', async () => {
    // Given another repository on the same registry, whose 1.0.0 shares this repository's layers
    const victim = uniqueRepository('victim')
    const victimTarget = `${registry.host}/${victim}`
    await execa('docker', ['tag', `${target}:1.1.0`, `${victimTarget}:1.0.0`])
    await execa('docker', ['--config', dockerConfig.dir, 'push', `${victimTarget}:1.0.0`])
    const client = (repo: string) =>
      new RegistryClient({
        credentials: {password: registry.password, username: registry.user},
        host: registry.host,
        repository: repo,
      })
    const before = {latest: await client(repository).manifestDigest('latest'), victim: await client(victim).tags()}
    try {
      // When rollback is given a "version" that the URL parser would resolve into the other repository's path
      const attack = `../../${victim.split('/')[1]}/manifests/1.0.0`
      const {exitCode, stdout} = await mlship(['rollback', attack, '--registry', target, '--json'], {env: childEnv})
      // Then it is refused before any request, and latest here and the tags there are what they were
      expect(exitCode).toBe(2)
      expect(JSON.parse(stdout).error.code).toBe('VERSION_INVALID')
      expect(await client(repository).manifestDigest('latest')).toBe(before.latest)
      expect(await client(victim).tags()).toEqual(before.victim)
    } finally {
      await deleteRepository(registry, victim)
      await removeLocalReferences(victimTarget)
    }
  })

  it('a wrong password is refused with the registry named and the fix, exit 6, and the password never shows', async () => {
    const secret = 'definitely-wrong-password-4711'
    const {exitCode, stderr, stdout} = await mlship(
      ['versions', '--registry', target, '-u', registry.user, '--password-stdin', '--json'],
      {
        env: childEnv,
        input: `${secret}\n`,
      },
    )
    expect(exitCode).toBe(6)
    const {error} = JSON.parse(stdout)
    expect(error.code).toBe('REGISTRY_AUTH')
    expect(error.message).toContain(registry.host)
    expect(error.suggestions.join('\n')).toContain(`mlship login ${registry.host}`)
    expect(stdout + stderr).not.toContain(secret)
  })

  it('an unreachable registry is retried with backoff, then reported with exit 6', async () => {
    // A port where nothing listens: the shared registry stays up for the other tests.
    const started = Date.now()
    const {exitCode, stdout} = await mlship(
      ['versions', '--registry', `127.0.0.1:${await closedPort()}/nothing`, '--json'],
      {env: childEnv},
    )
    expect(exitCode).toBe(6)
    const {error} = JSON.parse(stdout)
    expect(error.code).toBe('REGISTRY_UNREACHABLE')
    expect(error.details.attempts).toBeGreaterThan(1)
    expect(error.message).toContain('connection refused')
    expect(Date.now() - started).toBeGreaterThan(1000)
  })

  it('login checks the password against the registry, stores it like docker login, never prints it', async () => {
    const fresh = await loggedInDockerConfig(registry)
    await fresh.cleanup() // an empty directory's path: no config.json yet
    const loginEnv = {...process.env, DOCKER_CONFIG: fresh.dir}
    const wrong = await mlship(['login', registry.host, '-u', registry.user, '--password-stdin'], {
      env: loginEnv,
      input: 'nope-nope-nope',
    })
    expect(wrong.exitCode).toBe(6)
    expect(wrong.stderr).toContain(registry.host)
    expect(wrong.stdout + wrong.stderr).not.toContain('nope-nope-nope')

    const ok = await mlship(['login', registry.host, '-u', registry.user, '--password-stdin', '--json'], {
      env: loginEnv,
      input: `${registry.password}\n`,
    })
    expect(ok.exitCode).toBe(0)
    expect(ok.stdout + ok.stderr).not.toContain(registry.password)
    const config = JSON.parse(await readFile(path.join(fresh.dir, 'config.json'), 'utf8'))
    expect(Buffer.from(config.auths[registry.host].auth, 'base64').toString()).toBe(
      `${registry.user}:${registry.password}`,
    )

    // docker itself accepts what mlship login stored.
    const listed = await mlship(['versions', '--registry', target, '--json'], {env: loginEnv})
    expect(listed.exitCode).toBe(0)
    await fresh.cleanup()
  })
})
