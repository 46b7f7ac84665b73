import {inspect} from 'node:util'

const REDACTED = '[redacted]'

/**
 * A header value whose text reaches the engine but never a log: node:http writes its text, while util.inspect,
 * util.format and JSON.stringify (what debug-style loggers use) show "[redacted]".
 */
export class SecretHeaderValue extends String {
  [inspect.custom](): string {
    return `'${REDACTED}'`
  }

  toJSON(): string {
    return REDACTED
  }
}

/** What docker-modem reads from a request's `authconfig` or `registryconfig` to build its header. */
interface HeaderSource {
  key?: string | SecretHeaderValue
  base64?: string | SecretHeaderValue
  [field: string]: unknown
}

/** The part of docker-modem's Modem that every engine request goes through. */
export interface DialingModem {
  dial(options: Record<string, unknown>, callback: (...args: unknown[]) => void): unknown
}

/**
 * docker-modem logs every request it sends, headers included, through the `debug` package (DEBUG=* or DEBUG=modem):
 * the X-Registry-Auth header of a push or pull is base64 JSON with the registry password. This wraps the modem's one
 * entry point so that those headers are SecretHeaderValues, encoded exactly as docker-modem would encode them, and
 * such a log shows "[redacted]" whatever DEBUG is set to.
 */
export function redactRegistryHeaders(modem: DialingModem): void {
  const dial = modem.dial.bind(modem)
  modem.dial = (options, callback) => dial(withSecretHeaders(options), callback)
}

function withSecretHeaders(options: Record<string, unknown>): Record<string, unknown> {
  const auth = options.authconfig as HeaderSource | undefined
  const registry = options.registryconfig as HeaderSource | undefined
  if (!auth && !registry) return options
  const safe = {...options}
  if (auth) safe.authconfig = {key: new SecretHeaderValue(authHeader(auth))}
  if (registry) safe.registryconfig = {base64: new SecretHeaderValue(registryHeader(registry))}
  return safe
}

/** docker-modem's encoding of X-Registry-Auth: a ready key, a ready base64, else base64url of the JSON. */
export function authHeader(auth: HeaderSource): string {
  if (auth.key) return String(auth.key)
  if (auth.base64) return String(auth.base64)
  return Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
}

/** docker-modem's encoding of X-Registry-Config: a ready base64, else base64 of the JSON. */
function registryHeader(registry: HeaderSource): string {
  if (registry.base64) return String(registry.base64)
  return Buffer.from(JSON.stringify(registry)).toString('base64')
}
