import {createHash, timingSafeEqual} from 'node:crypto'

import {ExitCode, MlshipError} from '../../errors.js'

/** What a key may be: visible ASCII without spaces or commas (commas separate keys in an environment variable). */
const KEY_PATTERN = /^[\x21-\x2b\x2d-\x7e]+$/
export const KEY_MIN_LENGTH = 16
export const KEY_MAX_LENGTH = 512

/** One accepted key as the server keeps it: its SHA-256 digest, never the key itself. */
interface StoredKey {
  digest: Buffer
  /** The first 8 hex digits of the digest: names a key in logs (which keys are loaded) without revealing it. */
  fingerprint: string
}

/** The key a request matched, by digest: the identity its rate limit is kept under. */
export interface KeyMatch {
  id: string
  fingerprint: string
}

/** How two digests are compared: in constant time. Swappable only so that a test can watch what it is given. */
export type DigestComparer = (a: Buffer, b: Buffer) => boolean
export const compareDigests: DigestComparer = timingSafeEqual

export function digestOf(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest()
}

/**
 * The accepted API keys, hashed. A presented key is hashed too and compared with every stored digest by
 * `timingSafeEqual`: digests are all 32 bytes whatever the key's length, and the loop never stops early, so neither
 * the time taken nor an exception says how much of a key was right, or which key matched.
 */
export class ApiKeySet {
  private readonly keys: StoredKey[]

  constructor(
    keys: Iterable<string>,
    private readonly compare: DigestComparer = compareDigests,
  ) {
    const unique = new Map<string, StoredKey>()
    for (const key of keys) {
      const digest = digestOf(key)
      const hex = digest.toString('hex')
      unique.set(hex, {digest, fingerprint: hex.slice(0, 8)})
    }
    this.keys = [...unique.values()]
  }

  get size(): number {
    return this.keys.length
  }

  /** Fingerprints of the keys, for the start-up and reload log lines. */
  get fingerprints(): string[] {
    return this.keys.map((k) => k.fingerprint)
  }

  /** The ids (digests in hex) of the keys: what rate-limit buckets are kept under. */
  get ids(): Set<string> {
    return new Set(this.keys.map((k) => k.digest.toString('hex')))
  }

  match(presented: string): KeyMatch | undefined {
    const digest = digestOf(presented)
    let found: StoredKey | undefined
    for (const key of this.keys) {
      if (this.compare(digest, key.digest) && !found) found = key
    }
    return found ? {fingerprint: found.fingerprint, id: found.digest.toString('hex')} : undefined
  }
}

/**
 * The keys of a file or an environment variable: one per line (or, in a variable, separated by commas), blank lines
 * and lines starting with "#" skipped. A bad key is reported by its line or position, never by its text: the error
 * ends up in logs.
 */
export function parseKeys(text: string, source: {kind: 'file' | 'env'; name: string}): string[] {
  const keys: string[] = []
  const lines = text.split(/\r?\n/)
  for (const [index, line] of lines.entries()) {
    const entries = source.kind === 'env' ? line.split(',') : [line]
    for (const [position, entry] of entries.entries()) {
      const key = entry.trim()
      if (key === '' || key.startsWith('#')) continue
      if (key.length < KEY_MIN_LENGTH || key.length > KEY_MAX_LENGTH || !KEY_PATTERN.test(key)) {
        const where =
          source.kind === 'file'
            ? `${source.name}, line ${index + 1}`
            : `${source.name}, key ${keys.length + 1}${lines.length > 1 ? ` (line ${index + 1}${entries.length > 1 ? `, entry ${position + 1}` : ''})` : ''}`
        throw new MlshipError(
          `the API key in ${where} is not a usable key: a key is ${KEY_MIN_LENGTH} to ${KEY_MAX_LENGTH} visible ASCII characters without spaces or commas`,
          {
            code: 'API_KEY_INVALID',
            details: {source: source.name, ...(source.kind === 'file' ? {line: index + 1} : {})},
            exitCode: ExitCode.usage,
            suggestions: ['Make a key with: openssl rand -hex 32'],
          },
        )
      }
      keys.push(key)
    }
  }
  return keys
}
