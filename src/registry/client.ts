import {createHash} from 'node:crypto'
import {setTimeout as sleep} from 'node:timers/promises'

import {ExitCode, MlshipError, errorMessage, THIS_COMMAND} from '../errors.js'
import type {RegistryCredentials} from './credentials.js'
import {assertDigest, assertManifestReference, assertRegistryTarget, registryBaseUrl} from './reference.js'

/**
 * A small client for the Registry HTTP API v2 (the distribution spec): ping, tags, manifests and blobs, with the
 * auth challenge handled the way the docker CLI does (Basic, or Bearer tokens from the realm the registry names).
 */

export const MANIFEST_MEDIA_TYPES = {
  dockerV2: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const

const ACCEPT_MANIFESTS = Object.values(MANIFEST_MEDIA_TYPES).join(', ')

export interface RetryOptions {
  /** Tries in all, first included. */
  attempts: number
  /** Delay before the second try; it doubles for each further one. */
  initialDelayMs: number
}

export const DEFAULT_RETRY: RetryOptions = {attempts: 4, initialDelayMs: 500}

export interface RegistryClientOptions {
  host: string
  repository: string
  credentials?: RegistryCredentials
  retry?: RetryOptions
  /** Per-request timeout. */
  timeoutMs?: number
  /** Default: http:// for loopback hosts, https:// otherwise. */
  baseUrl?: string
}

export interface ManifestDescriptor {
  mediaType?: string
  digest: string
  size: number
  platform?: {architecture?: string; os?: string; variant?: string}
}

export interface ImageManifest {
  schemaVersion: number
  mediaType?: string
  config?: ManifestDescriptor
  layers?: ManifestDescriptor[]
  manifests?: ManifestDescriptor[]
}

export interface FetchedManifest {
  digest: string
  mediaType: string
  /** The exact bytes: the digest is over them, so a copy must PUT them unchanged. */
  raw: Buffer
  manifest: ImageManifest
}

type Action = 'pull' | 'pull,push' | 'delete'

interface Challenge {
  scheme: 'basic' | 'bearer'
  params: Record<string, string>
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504])

export class RegistryClient {
  readonly host: string
  readonly repository: string
  private readonly baseUrl: string
  private readonly credentials?: RegistryCredentials
  private readonly retry: RetryOptions
  private readonly timeoutMs: number
  private challenge?: Challenge
  private readonly tokens = new Map<string, string>()

  constructor(options: RegistryClientOptions) {
    // `login` talks to the registry itself: no repository.
    assertRegistryTarget(options, {allowNoRepository: true})
    this.host = options.host
    this.repository = options.repository
    this.baseUrl = options.baseUrl ?? registryBaseUrl(options.host)
    this.credentials = options.credentials
    this.retry = options.retry ?? DEFAULT_RETRY
    this.timeoutMs = options.timeoutMs ?? 30_000
  }

  /** Checks that the registry answers and accepts the credentials (GET /v2/). */
  async ping(): Promise<void> {
    const response = await this.request('GET', '/v2/', {action: 'pull'})
    await this.expectOk(response, 'GET /v2/')
  }

  /** All tags of the repository (following the Link header's pages); none when the repository does not exist yet. */
  async tags(): Promise<string[]> {
    const tags: string[] = []
    let next: string | undefined = `/v2/${this.repository}/tags/list?n=1000`
    while (next) {
      const response = await this.request('GET', next, {action: 'pull'})
      if (response.status === 404) return []
      await this.expectOk(response, 'list tags')
      const body = (await response.json()) as {tags?: string[] | null}
      tags.push(...(body.tags ?? []))
      next = this.nextTagsPage(response.headers.get('link'))
    }
    return tags
  }

  /** The digest a tag points to, or undefined when the tag does not exist. */
  async manifestDigest(reference: string): Promise<string | undefined> {
    const response = await this.request('HEAD', this.manifestPath(reference), {
      accept: ACCEPT_MANIFESTS,
      action: 'pull',
    })
    if (response.status === 404) return undefined
    await this.expectOk(response, `HEAD manifest ${reference}`)
    const digest = response.headers.get('docker-content-digest')
    return digest ?? (await this.manifest(reference))?.digest
  }

  async manifest(reference: string): Promise<FetchedManifest | undefined> {
    const response = await this.request('GET', this.manifestPath(reference), {accept: ACCEPT_MANIFESTS, action: 'pull'})
    if (response.status === 404) {
      await response.body?.cancel()
      return undefined
    }
    await this.expectOk(response, `GET manifest ${reference}`)
    const raw = Buffer.from(await response.arrayBuffer())
    const manifest = JSON.parse(raw.toString('utf8')) as ImageManifest
    const mediaType = (response.headers.get('content-type') ?? manifest.mediaType ?? MANIFEST_MEDIA_TYPES.dockerV2)
      .split(';')[0]!
      .trim()
    return {digest: response.headers.get('docker-content-digest') ?? sha256Digest(raw), manifest, mediaType, raw}
  }

  /** PUTs manifest bytes under a tag: tagging without moving any layer. Returns the digest the registry reports. */
  async putManifest(reference: string, raw: Buffer, mediaType: string): Promise<string> {
    const response = await this.request('PUT', this.manifestPath(reference), {
      action: 'pull,push',
      body: raw,
      contentType: mediaType,
    })
    await this.expectOk(response, `PUT manifest ${reference}`)
    await response.body?.cancel()
    return response.headers.get('docker-content-digest') ?? sha256Digest(raw)
  }

  /** Deletes a manifest by digest (the registry must allow deletes). Every tag pointing to it goes with it. */
  async deleteManifest(digest: string): Promise<boolean> {
    const response = await this.request('DELETE', this.manifestPath(digest), {action: 'delete'})
    if (response.status === 404) return false
    await this.expectOk(response, `DELETE manifest ${digest}`)
    await response.body?.cancel()
    return true
  }

  async blobJson<T>(digest: string): Promise<T> {
    assertDigest(digest, 'blob digest')
    const response = await this.request('GET', `/v2/${this.repository}/blobs/${digest}`, {action: 'pull'})
    await this.expectOk(response, `GET blob ${digest.slice(0, 19)}`)
    return (await response.json()) as T
  }

  private manifestPath(reference: string): string {
    assertManifestReference(reference, 'manifest reference')
    return `/v2/${this.repository}/manifests/${reference}`
  }

  /**
   * The next page of the tag list from a Link header, only when it stays on this registry and this repository's tag
   * list: the request carries the credentials, and the header is the registry's to write.
   */
  private nextTagsPage(link: string | null): string | undefined {
    const next = nextPage(link)
    if (!next) return undefined
    const url = new URL(next, this.baseUrl)
    if (url.origin !== new URL(this.baseUrl).origin || url.pathname !== `/v2/${this.repository}/tags/list`) {
      throw new MlshipError(
        `${this.host} sent a next page of tags outside this repository: ${url.origin}${url.pathname}`,
        {
          code: 'REGISTRY_ERROR',
          details: {host: this.host, next: `${url.origin}${url.pathname}`, repository: this.repository},
          exitCode: ExitCode.registry,
        },
      )
    }
    return `${url.pathname}${url.search}`
  }

  private async expectOk(response: Response, what: string): Promise<void> {
    if (response.ok) return
    const text = await response.text().catch(() => '')
    const reason = registryErrorText(text) ?? `HTTP ${response.status}`
    if (response.status === 401) throw this.authError(reason)
    if (response.status === 403) {
      throw new MlshipError(`${this.host} denied ${what} on ${this.repository}: ${reason}`, {
        code: 'REGISTRY_DENIED',
        details: {host: this.host, repository: this.repository, status: 403},
        exitCode: ExitCode.registry,
        suggestions: [
          `Check that ${this.credentials?.username || 'your account'} may push to ${this.host}/${this.repository}.`,
        ],
      })
    }
    throw new MlshipError(`${this.host}: ${what} failed: ${reason}`, {
      code: 'REGISTRY_ERROR',
      details: {host: this.host, repository: this.repository, status: response.status},
      exitCode: ExitCode.registry,
    })
  }

  authError(reason: string): MlshipError {
    return registryAuthError(this.host, this.credentials?.username, reason)
  }

  /** One request with auth and bounded retries for network errors and 429/5xx answers. */
  private async request(
    method: string,
    pathAndQuery: string,
    options: {accept?: string; action: Action; body?: Buffer; contentType?: string},
  ): Promise<Response> {
    let authTries = 0
    for (;;) {
      const response = await this.send(method, pathAndQuery, options)
      if (response.status !== 401 || authTries > 0) return response
      // A 401 carries the challenge: how to authenticate. Answer it once; a second 401 means wrong credentials.
      const challenge = parseChallenge(response.headers.get('www-authenticate'))
      await response.body?.cancel()
      if (!challenge) return response
      this.challenge = challenge
      if (challenge.scheme === 'bearer') await this.fetchToken(challenge, options.action)
      else if (!this.credentials) throw this.authError('the registry asks for credentials and none were found')
      authTries++
    }
  }

  private async send(
    method: string,
    pathAndQuery: string,
    options: {accept?: string; action: Action; body?: Buffer; contentType?: string},
  ): Promise<Response> {
    const url = `${this.baseUrl}${pathAndQuery}`
    const headers: Record<string, string> = {}
    if (options.accept) headers.accept = options.accept
    if (options.contentType) headers['content-type'] = options.contentType
    const authorization = this.authorization(options.action)
    if (authorization) headers.authorization = authorization
    return this.withRetry(`${method} ${url}`, async () => {
      const response = await fetch(url, {
        body: options.body ? new Uint8Array(options.body) : undefined,
        headers,
        method,
        signal: AbortSignal.timeout(this.timeoutMs),
      })
      if (RETRYABLE_STATUS.has(response.status)) {
        await response.body?.cancel()
        throw new RetryableStatus(response.status)
      }
      return response
    })
  }

  private authorization(action: Action): string | undefined {
    if (!this.challenge) return undefined
    if (this.challenge.scheme === 'basic') {
      if (!this.credentials?.password) return undefined
      return `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`
    }
    const token = this.tokens.get(this.scope(action))
    return token ? `Bearer ${token}` : undefined
  }

  private scope(action: Action): string {
    // No repository (login): a token for the registry itself, as `docker login` asks for.
    if (!this.repository) return ''
    return `repository:${this.repository}:${action === 'delete' ? '*' : action}`
  }

  private async fetchToken(challenge: Challenge, action: Action): Promise<void> {
    const realm = challenge.params.realm
    if (!realm) throw this.authError('the registry sent a Bearer challenge without a realm')
    const scope = this.scope(action)
    const service = challenge.params.service
    let response: Response
    if (this.credentials?.identityToken) {
      // OAuth refresh token, as docker does for registries that gave one at login.
      const form = new URLSearchParams({
        client_id: 'mlship',
        grant_type: 'refresh_token',
        refresh_token: this.credentials.identityToken,
      })
      if (scope) form.set('scope', scope)
      if (service) form.set('service', service)
      response = await this.withRetry(`POST ${realm}`, () =>
        fetch(realm, {body: form, method: 'POST', signal: AbortSignal.timeout(this.timeoutMs)}),
      )
    } else {
      const url = new URL(realm)
      if (service) url.searchParams.set('service', service)
      if (scope) url.searchParams.set('scope', scope)
      const headers: Record<string, string> = {}
      if (this.credentials?.password) {
        headers.authorization = `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`
      }
      response = await this.withRetry(`GET ${url.origin}${url.pathname}`, () =>
        fetch(url, {headers, signal: AbortSignal.timeout(this.timeoutMs)}),
      )
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '')
      throw this.authError(
        `the token service at ${new URL(realm).host} answered ${response.status}${registryErrorText(text) ? `: ${registryErrorText(text)}` : ''}`,
      )
    }
    const body = (await response.json()) as {token?: string; access_token?: string}
    const token = body.token ?? body.access_token
    if (!token) throw this.authError(`the token service at ${new URL(realm).host} returned no token`)
    this.tokens.set(scope, token)
  }

  private async withRetry<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    let delay = this.retry.initialDelayMs
    const started = Date.now()
    for (let i = 1; ; i++) {
      try {
        return await attempt()
      } catch (error) {
        if (isBadPort(error)) throw this.badPortError()
        const retryable = error instanceof RetryableStatus || isNetworkError(error)
        if (!retryable) throw error
        if (i >= this.retry.attempts) throw this.unreachableError(error, i, Date.now() - started)
        await sleep(delay)
        delay *= 2
      }
    }
  }

  private badPortError(): MlshipError {
    const port = new URL(this.baseUrl).port
    return new MlshipError(
      `Cannot talk to the registry ${this.host}: port ${port} is on the fetch standard's list of blocked ports`,
      {
        code: 'REGISTRY_PORT_BLOCKED',
        details: {host: this.host, port},
        exitCode: ExitCode.registry,
        suggestions: ['Serve the registry on another port (5000 is the usual one for a local registry).'],
      },
    )
  }

  private unreachableError(error: unknown, attempts: number, elapsedMs: number): MlshipError {
    const reason = error instanceof RetryableStatus ? `it answered HTTP ${error.status}` : networkReason(error)
    return new MlshipError(
      `Cannot reach the registry ${this.host} (${reason}); tried ${attempts} times over ${(elapsedMs / 1000).toFixed(1)} s`,
      {
        code: 'REGISTRY_UNREACHABLE',
        details: {attempts, host: this.host, reason},
        exitCode: ExitCode.registry,
        suggestions: [
          `Check that the registry runs and that ${this.baseUrl}/v2/ answers from this machine (proxy, VPN, firewall).`,
          'Check the host and port in model.yaml (registry.host) or in --registry.',
        ],
      },
    )
  }
}

export function registryAuthError(host: string, username: string | undefined, reason: string): MlshipError {
  return new MlshipError(
    username
      ? `${host} rejected the credentials of "${username}" (${reason})`
      : `${host} needs credentials (${reason})`,
    {
      code: 'REGISTRY_AUTH',
      details: {host, username},
      exitCode: ExitCode.registry,
      suggestions: [
        `Run \`mlship login ${host}\` (or \`docker login ${host}\`) with the right username and password or token.`,
        `In CI: echo "$REGISTRY_PASSWORD" | ${THIS_COMMAND} --username "$REGISTRY_USERNAME" --password-stdin`,
      ],
    },
  )
}

class RetryableStatus extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`)
  }
}

function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return true
  // undici's fetch throws TypeError('fetch failed') with the socket error as its cause.
  return error instanceof TypeError && error.message === 'fetch failed'
}

/** fetch refuses a few ports outright (6000, 6665-6669, 10080...): no retry will help. */
function isBadPort(error: unknown): boolean {
  return error instanceof TypeError && (error as {cause?: {message?: string}}).cause?.message === 'bad port'
}

function networkReason(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timed out'
  const cause = (error as {cause?: {code?: string; message?: string}}).cause
  if (cause?.code === 'ECONNREFUSED') return 'connection refused'
  if (cause?.code === 'ENOTFOUND' || cause?.code === 'EAI_AGAIN') return 'host not found'
  if (cause?.code) return cause.code
  return cause?.message ?? errorMessage(error)
}

/** `Bearer realm="https://auth",service="reg",scope="repository:x:pull"` -> {scheme, params}. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header)
  if (!match) return undefined
  const scheme = match[1]!.toLowerCase()
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined
  const params: Record<string, string> = {}
  for (const param of match[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[param[1]!.toLowerCase()] = (param[2] ?? param[3] ?? '').replace(/\\(.)/g, '$1')
  }
  return {params, scheme}
}

/** The target of a Link header's rel="next" (RFC 8288), as the registry wrote it. */
export function nextPage(link: string | null): string | undefined {
  if (!link) return undefined
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)
  return match?.[1]
}

/** The first error of a registry's JSON error body (`CODE: message`), or the start of a body that is not one. */
export function registryErrorText(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as {errors?: Array<{code?: string; message?: string}>}
    const first = body.errors?.[0]
    if (first) return [first.code, first.message].filter(Boolean).join(': ')
  } catch {
    // not JSON
  }
  return text.trim() ? text.trim().slice(0, 200) : undefined
}

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}
