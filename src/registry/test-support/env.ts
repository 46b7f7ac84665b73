import {execa, execaSync} from 'execa'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {inCi} from '../../docker/test-support/engine.js'
import {RegistryClient} from '../client.js'
import {storeCredentials} from '../credentials.js'

/** The registry that scripts/test-registry.sh started, or undefined where there is none and CI is unset. */
export interface RegistryTestEnv {
  host: string
  user: string
  password: string
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

/**
 * Integration tests need the real registry, and most of them the real engine (`{engine: false}`: the Registry API
 * alone). Outside CI, where either is missing, they skip; in CI a missing one fails the run (a skipped test there
 * would hide a broken environment).
 */
export function registryTestEnv(options: {engine?: boolean} = {}): RegistryTestEnv | undefined {
  const host = process.env.MLSHIP_TEST_REGISTRY
  const user = process.env.MLSHIP_TEST_REGISTRY_USER
  const password = process.env.MLSHIP_TEST_REGISTRY_PASSWORD
  const engine =
    options.engine === false ||
    execaSync('docker', ['info', '--format', '{{.ServerVersion}}'], {reject: false, timeout: 20_000}).exitCode === 0
  if (host && user && password && engine) return {host, password, user}
  if (inCi()) {
    throw new Error(
      `CI is set but the registry test environment is missing (MLSHIP_TEST_REGISTRY=${host ?? 'unset'}, engine ${engine ? 'up' : 'down'}): source scripts/test-env.sh and scripts/test-registry.sh first`,
    )
  }
  return undefined
}

/** A fresh repository name per test file, so parallel runs and earlier runs never meet. */
export function uniqueRepository(prefix: string): string {
  return `mlship-test/${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
}

/** A DOCKER_CONFIG directory holding the test registry's credentials, as `docker login` leaves it. */
export async function loggedInDockerConfig(env: RegistryTestEnv): Promise<{dir: string; cleanup: () => Promise<void>}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-docker-config-'))
  await storeCredentials(env.host, {password: env.password, username: env.user}, {configDir: dir})
  return {cleanup: () => rm(dir, {force: true, recursive: true}), dir}
}

/** A tiny image made with `docker import` of a one-file tarball: unique content, so a unique digest. */
export async function importTinyImage(tag: string, content: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-tiny-'))
  try {
    await writeFile(path.join(dir, 'content.txt'), content)
    await execa('tar', ['-C', dir, '-cf', path.join(dir, 'image.tar'), 'content.txt'])
    const {stdout} = await execa('docker', ['import', path.join(dir, 'image.tar'), tag], {timeout: 60_000})
    return stdout.trim()
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
}

/** Deletes every manifest of a test repository (the test registry allows deletes). */
export async function deleteRepository(env: RegistryTestEnv, repository: string): Promise<void> {
  const client = new RegistryClient({
    credentials: {password: env.password, username: env.user},
    host: env.host,
    repository,
  })
  const digests = new Set<string>()
  for (const tag of await client.tags().catch(() => [])) {
    const digest = await client.manifestDigest(tag).catch(() => undefined)
    if (digest) digests.add(digest)
  }
  for (const digest of digests) await client.deleteManifest(digest).catch(() => false)
}

/** Runs the CLI from source as a user would, with stdin, and returns exit code and both streams. */
export async function mlship(args: string[], options: {input?: string; env?: NodeJS.ProcessEnv; cwd?: string} = {}) {
  const result = await execa(path.join(REPO_ROOT, 'bin/dev.js'), args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: {...options.env, NO_COLOR: '1'},
    input: options.input ?? '',
    reject: false,
    timeout: 280_000,
  })
  return {exitCode: result.exitCode ?? -1, stderr: result.stderr, stdout: result.stdout}
}

/**
 * Gives an ONNX model a different doc_string by appending ModelProto field 6 again (protobuf: the last value of a
 * field wins). The model computes exactly the same thing, but its bytes (and so its image layer) differ: a
 * "retrained" model without needing the onnx Python package.
 */
export function retag(model: Buffer, docString: string): Buffer {
  const text = Buffer.from(docString, 'utf8')
  if (text.length > 127) throw new Error('keep the doc string under 128 bytes (one-byte length)')
  return Buffer.concat([model, Buffer.from([0x32, text.length]), text])
}

/**
 * Removes this repository's references from the engine: its tags, and the repo@digest references images keep after
 * a tag moved away (--force). By reference, never by image id: an image may also carry another test's tag.
 */
export async function removeLocalReferences(repository: string): Promise<void> {
  const {stdout} = await execa(
    'docker',
    ['images', '--digests', '--format', '{{.Repository}}|{{.Tag}}|{{.Digest}}', repository],
    {reject: false},
  )
  const references = stdout
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      const [repo, tag, digest] = line.split('|')
      return [
        tag && tag !== '<none>' ? `${repo}:${tag}` : undefined,
        digest && digest !== '<none>' ? `${repo}@${digest}` : undefined,
      ]
    })
    .filter((r): r is string => Boolean(r))
  for (const reference of references) await execa('docker', ['rmi', reference], {reject: false})
}

/**
 * A loopback port where nothing listens (bound, then released): a stopped registry, without stopping the shared
 * one.
 */
export async function closedPort(): Promise<number> {
  const net = await import('node:net')
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}
