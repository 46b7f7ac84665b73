import {chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {readCredentials, resolveCredentials, storeCredentials} from './credentials.js'

let dir: string
let env: NodeJS.ProcessEnv

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-creds-'))
  env = {...process.env, DOCKER_CONFIG: dir}
})
afterEach(async () => {
  await rm(dir, {force: true, recursive: true})
})

/**
 * A real docker-credential-* helper (the protocol: `get`/`store` with stdin, JSON out), keeping its store in a file,
 * put first on PATH: what `docker-credential-pass` or `-secretservice` do, without a keyring.
 */
async function installHelper(name: string): Promise<string> {
  const bin = path.join(dir, 'bin')
  await mkdir(bin, {recursive: true})
  const store = path.join(dir, `${name}-store.json`)
  const script = `#!/usr/bin/env node
const fs = require('fs'); const store = ${JSON.stringify(store)}
const db = fs.existsSync(store) ? JSON.parse(fs.readFileSync(store, 'utf8')) : {}
const input = fs.readFileSync(0, 'utf8').trim()
if (process.argv[2] === 'store') { const c = JSON.parse(input); db[c.ServerURL] = c; fs.writeFileSync(store, JSON.stringify(db)) }
else if (process.argv[2] === 'get') { if (!db[input]) { console.log('credentials not found in native keychain'); process.exit(1) } console.log(JSON.stringify(db[input])) }
else process.exit(2)
`
  await writeFile(path.join(bin, `docker-credential-${name}`), script)
  await chmod(path.join(bin, `docker-credential-${name}`), 0o755)
  env.PATH = `${bin}:${process.env.PATH}`
  return store
}

describe('docker credentials', () => {
  it('finds nothing where there is no config.json', async () => {
    expect(await readCredentials('127.0.0.1:5000', {env})).toEqual({source: 'none'})
  })

  it('stores in config.json auths like docker login (0600, other keys kept) and reads it back', async () => {
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({auths: {'ghcr.io': {auth: 'eDp5'}}, detachKeys: 'ctrl-e,e'}),
    )
    const stored = await storeCredentials('127.0.0.1:5000', {password: 's3cret:with:colons', username: 'ci'}, {env})
    expect(stored.store).toBe('config-file')
    const file = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'))
    expect(file.detachKeys).toBe('ctrl-e,e')
    expect(file.auths['ghcr.io']).toEqual({auth: 'eDp5'})
    expect(Buffer.from(file.auths['127.0.0.1:5000'].auth, 'base64').toString()).toBe('ci:s3cret:with:colons')
    expect((await stat(path.join(dir, 'config.json'))).mode & 0o777).toBe(0o600)
    expect(await readCredentials('127.0.0.1:5000', {env})).toEqual({
      credentials: {password: 's3cret:with:colons', username: 'ci'},
      source: 'config-file',
    })
  })

  it('matches auths keys written with a scheme and path, as older docker versions did', async () => {
    const auth = Buffer.from('u:p').toString('base64')
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({auths: {'https://registry.example.com/v2/': {auth}}}),
    )
    expect((await readCredentials('registry.example.com', {env})).credentials).toEqual({password: 'p', username: 'u'})
  })

  it('uses the credsStore helper for get and store, leaving an empty auths entry', async () => {
    const store = await installHelper('mlshiptest')
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({credsStore: 'mlshiptest'}))
    expect(await readCredentials('127.0.0.1:5000', {env})).toEqual({source: 'none'})
    const stored = await storeCredentials('127.0.0.1:5000', {password: 'pw', username: 'me'}, {env})
    expect(stored.store).toBe('helper:mlshiptest')
    const file = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'))
    expect(file.auths).toEqual({'127.0.0.1:5000': {}})
    expect(JSON.stringify(file)).not.toContain('pw')
    expect(JSON.parse(await readFile(store, 'utf8'))['127.0.0.1:5000']).toEqual({
      Secret: 'pw',
      ServerURL: '127.0.0.1:5000',
      Username: 'me',
    })
    expect(await readCredentials('127.0.0.1:5000', {env})).toEqual({
      credentials: {password: 'pw', username: 'me'},
      source: 'helper:mlshiptest',
    })
  })

  it('prefers a credHelpers entry for the host over credsStore, and reads identity tokens', async () => {
    const store = await installHelper('perhost')
    await writeFile(
      store,
      JSON.stringify({'ghcr.io': {Secret: 'refresh-token', ServerURL: 'ghcr.io', Username: '<token>'}}),
    )
    await writeFile(
      path.join(dir, 'config.json'),
      JSON.stringify({credHelpers: {'ghcr.io': 'perhost'}, credsStore: 'missing-helper'}),
    )
    expect(await readCredentials('ghcr.io', {env})).toEqual({
      credentials: {identityToken: 'refresh-token', username: ''},
      source: 'helper:perhost',
    })
  })

  it('reports a helper that is not installed with exit 6 and what to do', async () => {
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({credsStore: 'not-installed-anywhere'}))
    await expect(readCredentials('127.0.0.1:5000', {env})).rejects.toMatchObject({
      exitCode: 6,
      message: expect.stringContaining('docker-credential-not-installed-anywhere (get) is not installed'),
    })
  })

  it('takes --username/--password-stdin over the config, and refuses one without the other', async () => {
    expect(await resolveCredentials('h', {env, password: 'p', username: 'u'})).toEqual({
      credentials: {password: 'p', username: 'u'},
      source: 'flags',
    })
    await expect(resolveCredentials('h', {env, username: 'u'})).rejects.toMatchObject({exitCode: 2})
  })
})
