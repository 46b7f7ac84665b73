import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {ExitCode, MlshipError, errorMessage} from '../errors.js'

/** A username and a secret for one registry. Never printed, logged or put in --json output. */
export interface RegistryCredentials {
  username: string
  password?: string
  /** An OAuth refresh token (what `docker login` keeps for registries that hand one out). */
  identityToken?: string
}

/** Where the credentials came from, for messages (never the credentials themselves). */
export type CredentialSource = 'flags' | 'config-file' | `helper:${string}` | 'none'

export interface ResolvedCredentials {
  credentials?: RegistryCredentials
  source: CredentialSource
}

export interface DockerConfigOptions {
  /** The docker config directory; default $DOCKER_CONFIG or ~/.docker. */
  configDir?: string
  env?: NodeJS.ProcessEnv
}

interface DockerConfigFile {
  auths?: Record<string, {auth?: string; username?: string; password?: string; identitytoken?: string}>
  credsStore?: string
  credHelpers?: Record<string, string>
  [key: string]: unknown
}

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/'
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])
// docker-credential-* helpers print this (or "credentials not found in native keychain") when they have nothing.
const NOT_FOUND = /credentials not found|not found in|no credentials/i
const TOKEN_USERNAME = '<token>'

export function dockerConfigDir(options: DockerConfigOptions = {}): string {
  const env = options.env ?? process.env
  return options.configDir ?? env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker')
}

function configFile(options: DockerConfigOptions): string {
  return path.join(dockerConfigDir(options), 'config.json')
}

/** The key `docker login` files a registry under: the host, except Docker Hub's historical index URL. */
export function credentialKey(host: string): string {
  return DOCKER_HUB_HOSTS.has(host) ? DOCKER_HUB_KEY : host
}

/** "https://host:5000/v2/" -> "host:5000", as docker's ConvertToHostname does when it matches auths keys. */
function keyHost(key: string): string {
  return key.replace(/^https?:\/\//, '').split('/')[0]!
}

async function readDockerConfig(options: DockerConfigOptions): Promise<DockerConfigFile> {
  const file = configFile(options)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw credentialsError(`${file} cannot be read (${errorMessage(error)})`, file)
  }
  try {
    const parsed = JSON.parse(text) as unknown
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as DockerConfigFile) : {}
  } catch (error) {
    throw credentialsError(`${file} is not valid JSON (${errorMessage(error)})`, file)
  }
}

function credentialsError(message: string, file: string): MlshipError {
  return new MlshipError(message, {
    code: 'DOCKER_CONFIG_INVALID',
    details: {file},
    exitCode: ExitCode.registry,
    suggestions: ['Fix or move the file, or set DOCKER_CONFIG to a directory with a valid config.json.'],
  })
}

function helperFor(config: DockerConfigFile, host: string): string | undefined {
  const helpers = config.credHelpers ?? {}
  const key = Object.keys(helpers).find((k) => keyHost(k) === keyHost(credentialKey(host)) || keyHost(k) === host)
  return key ? helpers[key] : config.credsStore
}

/**
 * Looks credentials up the way the docker CLI does: a `credHelpers` entry for the host, else the `credsStore`, else
 * the `auths` entry of config.json (base64 `auth`, or `identitytoken`).
 */
export async function readCredentials(host: string, options: DockerConfigOptions = {}): Promise<ResolvedCredentials> {
  const config = await readDockerConfig(options)
  const helper = helperFor(config, host)
  if (helper) {
    const fromHelper = await helperGet(helper, credentialKey(host), options)
    if (fromHelper) return {credentials: fromHelper, source: `helper:${helper}`}
  }

  const auths = config.auths ?? {}
  const key = auths[credentialKey(host)]
    ? credentialKey(host)
    : Object.keys(auths).find((k) => keyHost(k) === keyHost(credentialKey(host)))
  const entry = key ? auths[key] : undefined
  if (!entry) return {source: 'none'}
  if (entry.identitytoken)
    return {credentials: {identityToken: entry.identitytoken, username: entry.username ?? ''}, source: 'config-file'}
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon > 0)
      return {
        credentials: {password: decoded.slice(colon + 1), username: decoded.slice(0, colon)},
        source: 'config-file',
      }
  }
  if (entry.username && entry.password)
    return {credentials: {password: entry.password, username: entry.username}, source: 'config-file'}
  return {source: 'none'}
}

/** Stores credentials where `docker login` would: the host's credential helper, the credsStore, or config.json. */
export async function storeCredentials(
  host: string,
  credentials: RegistryCredentials,
  options: DockerConfigOptions = {},
): Promise<{file: string; store: CredentialSource}> {
  const file = configFile(options)
  const config = await readDockerConfig(options)
  const key = credentialKey(host)
  const helper = helperFor(config, host)
  const auths = {...config.auths}

  if (helper) {
    await helperStore(helper, key, credentials, options)
    // docker login leaves an empty entry in auths so that `docker` lists the registry as logged in.
    auths[key] = {}
  } else {
    const secret = credentials.password ?? credentials.identityToken ?? ''
    auths[key] = credentials.identityToken
      ? {auth: Buffer.from(`${credentials.username}:`).toString('base64'), identitytoken: credentials.identityToken}
      : {auth: Buffer.from(`${credentials.username}:${secret}`).toString('base64')}
  }

  await mkdir(path.dirname(file), {mode: 0o700, recursive: true})
  // Write then rename: a crash never leaves a half-written config.json, which would lock the user out of docker too.
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, `${JSON.stringify({...config, auths}, null, '\t')}\n`, {mode: 0o600})
  await rename(temporary, file)
  return {file, store: helper ? `helper:${helper}` : 'config-file'}
}

function helperEnv(options: DockerConfigOptions): NodeJS.ProcessEnv {
  return options.env ?? process.env
}

async function helperGet(
  helper: string,
  serverUrl: string,
  options: DockerConfigOptions,
): Promise<RegistryCredentials | undefined> {
  const program = `docker-credential-${helper}`
  const {execa} = await import('execa')
  const result = await execa(program, ['get'], {
    env: helperEnv(options),
    input: serverUrl,
    reject: false,
    timeout: 30_000,
  })
  if (result.failed) {
    const output = `${result.stdout}\n${result.stderr}`
    if (result.exitCode !== undefined && NOT_FOUND.test(output)) return undefined
    throw helperError(
      program,
      'get',
      result.code === 'ENOENT' ? 'is not installed (not on PATH)' : `failed: ${firstLine(output)}`,
    )
  }
  let parsed: {Username?: string; Secret?: string}
  try {
    parsed = JSON.parse(result.stdout) as {Username?: string; Secret?: string}
  } catch {
    throw helperError(program, 'get', 'printed something that is not JSON')
  }
  if (!parsed.Secret) return undefined
  return parsed.Username === TOKEN_USERNAME
    ? {identityToken: parsed.Secret, username: ''}
    : {password: parsed.Secret, username: parsed.Username ?? ''}
}

async function helperStore(
  helper: string,
  serverUrl: string,
  credentials: RegistryCredentials,
  options: DockerConfigOptions,
): Promise<void> {
  const program = `docker-credential-${helper}`
  const payload = credentials.identityToken
    ? {Secret: credentials.identityToken, ServerURL: serverUrl, Username: TOKEN_USERNAME}
    : {Secret: credentials.password ?? '', ServerURL: serverUrl, Username: credentials.username}
  const {execa} = await import('execa')
  const result = await execa(program, ['store'], {
    env: helperEnv(options),
    input: JSON.stringify(payload),
    reject: false,
    timeout: 30_000,
  })
  if (result.failed) {
    throw helperError(
      program,
      'store',
      result.code === 'ENOENT'
        ? 'is not installed (not on PATH)'
        : `failed: ${firstLine(`${result.stdout}\n${result.stderr}`)}`,
    )
  }
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find(Boolean) ?? 'no output'
  )
}

function helperError(program: string, action: string, what: string): MlshipError {
  return new MlshipError(`The Docker credential helper ${program} (${action}) ${what}`, {
    code: 'CREDENTIAL_HELPER_FAILED',
    details: {action, helper: program},
    exitCode: ExitCode.registry,
    suggestions: [
      `Install ${program}, or remove it from credsStore/credHelpers in ${path.join('$DOCKER_CONFIG', 'config.json')}.`,
      'In CI, pass --username and --password-stdin instead.',
    ],
  })
}

/** Flags first (CI), then the docker configuration; anonymous when neither has anything for the host. */
export async function resolveCredentials(
  host: string,
  options: DockerConfigOptions & {username?: string; password?: string},
): Promise<ResolvedCredentials> {
  if (options.username !== undefined || options.password !== undefined) {
    if (!options.username || options.password === undefined) {
      throw new MlshipError('--username and --password-stdin go together', {
        code: 'CREDENTIAL_FLAGS_INCOMPLETE',
        exitCode: ExitCode.usage,
        suggestions: ['echo "$REGISTRY_PASSWORD" | mlship push --username "$REGISTRY_USERNAME" --password-stdin'],
      })
    }
    return {credentials: {password: options.password, username: options.username}, source: 'flags'}
  }
  return readCredentials(host, options)
}
