import {RegistryClient, type RetryOptions} from './client.js'
import {type CredentialSource, type DockerConfigOptions, storeCredentials} from './credentials.js'
import {parseRegistryFlag, type RegistryTarget} from './reference.js'

export interface LoginOptions extends DockerConfigOptions {
  /** host[:port]; a repository path after it is accepted and ignored (`mlship login 127.0.0.1:5000/iris`). */
  host: string
  username: string
  password: string
  retry?: RetryOptions
}

export interface LoginResult {
  registry: string
  username: string
  /** Where the credentials went: a credential helper or the docker config file. */
  store: CredentialSource
  configFile: string
}

/** Checks the credentials against the registry, then stores them where `docker login` would. */
export async function login(options: LoginOptions): Promise<LoginResult> {
  const host = normaliseHost(options.host)
  const client = new RegistryClient({
    credentials: {password: options.password, username: options.username},
    host,
    repository: '',
    retry: options.retry,
  })
  await client.ping()
  const stored = await storeCredentials(host, {password: options.password, username: options.username}, options)
  return {configFile: stored.file, registry: host, store: stored.store, username: options.username}
}

function normaliseHost(value: string): string {
  const stripped = value
    .trim()
    .replace(/^https?:\/\//, '')
    .replace(/\/+$/, '')
  if (!stripped.includes('/')) return parseRegistryFlag(`${stripped}/x`).host
  const target: RegistryTarget = parseRegistryFlag(stripped)
  return target.host
}
