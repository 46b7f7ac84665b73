import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'

import type {AuthConfig} from '../../config/schema.js'
import {errorMessage, ExitCode, MlshipError} from '../../errors.js'
import {ApiKeySet, parseKeys} from './keys.js'

/** The environment variable that names the keys file, over serving.auth.keys_file (a mount path set at deploy). */
export const KEYS_FILE_ENV = 'MLSHIP_API_KEYS_FILE'

export interface KeySourceOptions {
  auth: Pick<AuthConfig, 'keys_env' | 'keys_file'>
  env: NodeJS.ProcessEnv
  /** Keys minted by an in-process caller (a benchmark's own key), accepted besides the others. */
  extraKeys?: readonly string[]
}

/** Where the keys come from: the environment variable's keys never change; the file's are read again. */
export class KeySources {
  readonly file: string | undefined
  /** Where the keys came from, for the start-up log line: names, never values. */
  readonly origins: string[]
  private readonly fixed: string[]
  private fileDigest: string | undefined
  private current: ApiKeySet

  private constructor(
    origins: string[],
    file: string | undefined,
    fixed: string[],
    fileKeys: string[],
    fileDigest: string | undefined,
  ) {
    this.origins = origins
    this.file = file
    this.fixed = fixed
    this.fileDigest = fileDigest
    this.current = new ApiKeySet([...fixed, ...fileKeys])
  }

  /**
   * Reads the keys at start-up. Asked for auth but given no key anywhere, the server refuses to start: it would
   * otherwise refuse every request, or (worse, were it to fall back) answer them all.
   */
  static async load(options: KeySourceOptions): Promise<KeySources> {
    const name = options.auth.keys_env
    const fromEnv = options.env[name] ? parseKeys(options.env[name], {kind: 'env', name}) : []
    const file = options.env[KEYS_FILE_ENV] || options.auth.keys_file
    let fileKeys: string[] = []
    let fileDigest: string | undefined
    if (file) {
      const text = await readKeysFile(file)
      fileKeys = parseKeys(text, {kind: 'file', name: file})
      fileDigest = contentDigest(text)
    }
    const origins = [
      ...(fromEnv.length > 0 ? [`env ${name}`] : []),
      ...(file ? [`file ${file}`] : []),
      ...(options.extraKeys?.length ? ['in-process'] : []),
    ]
    const sources = new KeySources(origins, file, [...fromEnv, ...(options.extraKeys ?? [])], fileKeys, fileDigest)
    if (sources.current.size === 0) {
      throw new MlshipError(
        `serving.auth is on and no API key was found: ${name} is ${options.env[name] === undefined ? 'not set' : 'empty'}${file ? ` and ${file} holds none` : ', and no keys file is named'}`,
        {
          code: 'API_KEYS_MISSING',
          exitCode: ExitCode.usage,
          suggestions: [
            `Set ${name} (one key per line, or separated by commas), e.g. ${name}=$(openssl rand -hex 32)`,
            `Or name a file of keys, one per line: serving.auth.keys_file in model.yaml, or ${KEYS_FILE_ENV}.`,
            'Or turn serving.auth.enabled off (for a server only this machine reaches).',
          ],
        },
      )
    }
    return sources
  }

  get keys(): ApiKeySet {
    return this.current
  }

  /**
   * Reads the file again. A changed file with keys replaces the file's keys at once (requests in flight keep the set
   * they were checked against); an unreadable, empty or malformed file keeps the keys in force, and says why: losing
   * every key would lock out every client, and the usual cause is a write caught half-way.
   */
  async reload(): Promise<ReloadOutcome> {
    if (!this.file) return {changed: false}
    let text: string
    try {
      text = await readKeysFile(this.file)
    } catch (error) {
      return {changed: false, problem: errorMessage(error)}
    }
    const digest = contentDigest(text)
    if (digest === this.fileDigest) return {changed: false}
    let keys: string[]
    try {
      keys = parseKeys(text, {kind: 'file', name: this.file})
    } catch (error) {
      return {changed: false, problem: errorMessage(error)}
    }
    if (keys.length === 0) {
      return {changed: false, problem: `${this.file} holds no key now; the keys read before stay in force`}
    }
    this.fileDigest = digest
    this.current = new ApiKeySet([...this.fixed, ...keys])
    return {changed: true}
  }
}

export interface ReloadOutcome {
  changed: boolean
  /** Why the file's new content was not taken (the keys in force stay). */
  problem?: string
}

async function readKeysFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new MlshipError(
      `cannot read the API keys file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorMessage(error)}`,
      {
        cause: error,
        code: 'API_KEYS_FILE_UNREADABLE',
        details: {file},
        exitCode: ExitCode.usage,
        suggestions: [
          `Check serving.auth.keys_file in model.yaml, or ${KEYS_FILE_ENV}; in Kubernetes, that the Secret is mounted there.`,
        ],
      },
    )
  }
}

function contentDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}
