import {type AddressInfo, isIP} from 'node:net'

import type {FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest} from 'fastify'
import {Counter, Gauge, type Registry} from 'prom-client'

import type {AuthConfig} from '../../config/schema.js'
import {errorMessage} from '../../errors.js'
import type {RoutePluginOptions} from '../context.js'
import type {KeySources} from './key-sources.js'
import {KeyRateLimiter} from './rate-limit.js'
import {routeAccess} from './route-access.js'

export interface ServingAuthOptions {
  /** Where the keys variable and MLSHIP_API_KEYS_FILE are read (default process.env). */
  env?: NodeJS.ProcessEnv
  /** The server's metrics registry: key checks are counted there by outcome (never by key). */
  registry?: Registry
  /** Keys minted by an in-process caller (a benchmark's, `serve --local`'s own look at GET /), accepted too. */
  extraKeys?: readonly string[]
  /** The rate limiter's clock, in milliseconds (default performance.now). */
  now?: () => number
  /** Runs `task` every `ms` until the returned function is called (default setInterval, unref'd): the keys reload. */
  every?: (ms: number, task: () => Promise<void>) => () => void
}

function everyInterval(ms: number, task: () => Promise<void>): () => void {
  const timer = setInterval(() => void task(), ms)
  timer.unref()
  return () => clearInterval(timer)
}

export const AUTH_OUTCOMES = ['accepted', 'missing', 'invalid', 'rate_limited'] as const

const REALM = 'mlship'

/**
 * API keys on the serving app (serving.auth). Registered without encapsulation, after the metrics plugin, so that its
 * hook sees every route and its refusals are timed and counted with the other requests. The key is checked in
 * `onRequest`, before the body is read or parsed: a caller without a key costs a hash, not a JSON parse.
 *
 * With auth off it only warns, once the server listens, when other machines can reach it.
 */
export function servingAuth(options: ServingAuthOptions = {}): FastifyPluginAsync<RoutePluginOptions> {
  const plugin: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
    const auth = context.project.config.serving.auth
    if (!auth.enabled) {
      app.addHook('onListen', (done) => {
        warnWhenExposed(app)
        done()
      })
      return
    }
    const env = options.env ?? process.env
    // Loaded only with auth on: its digests load node:crypto, some 1.5 ms of a serving process's start (issue 19).
    const {KeySources} = await import('./key-sources.js')
    const sources = await KeySources.load({auth, env, extraKeys: options.extraKeys})
    const limiter = auth.rate_limit
      ? new KeyRateLimiter({
          burst: auth.rate_limit.burst ?? Math.max(1, Math.ceil(auth.rate_limit.requests_per_second)),
          now: options.now,
          ratePerSecond: auth.rate_limit.requests_per_second,
        })
      : undefined
    const metrics = options.registry ? authMetrics(options.registry) : undefined
    metrics?.keys.set(sources.keys.size)
    app.log.info(
      {
        auth: {
          fingerprints: sources.keys.fingerprints,
          from: sources.origins,
          keys: sources.keys.size,
          open: ['probes', ...(auth.docs === 'open' ? ['docs'] : []), ...(auth.metrics === 'open' ? ['metrics'] : [])],
          ...(auth.rate_limit ? {rate_limit: auth.rate_limit} : {}),
        },
      },
      'API keys required',
    )
    if (sources.file) watchKeysFile(app, sources, auth, {every: options.every ?? everyInterval, limiter, metrics})

    const needsKey = routeAccess(auth)
    const limitText = auth.rate_limit ? `${auth.rate_limit.requests_per_second} requests/s` : ''
    app.addHook('onRequest', (request, reply, done) => {
      if (!needsKey(request.routeOptions.url)) {
        done()
        return
      }
      const presented = presentedKey(request)
      if (presented === undefined) {
        metrics?.checks.inc({outcome: 'missing'})
        refuse(
          reply,
          401,
          `Bearer realm="${REALM}"`,
          'an API key is needed: send Authorization: Bearer KEY or X-API-Key: KEY',
        )
        return
      }
      const match = sources.keys.match(presented)
      if (!match) {
        metrics?.checks.inc({outcome: 'invalid'})
        refuse(
          reply,
          401,
          `Bearer realm="${REALM}", error="invalid_token", error_description="the API key is not valid"`,
          'the API key is not valid',
        )
        return
      }
      if (limiter) {
        const decision = limiter.take(match.id)
        if (!decision.allowed) {
          metrics?.checks.inc({outcome: 'rate_limited'})
          void reply
            .code(429)
            .header('retry-after', String(decision.retryAfterSeconds))
            .type('application/json')
            .send(
              JSON.stringify({
                error: `too many requests for this API key (its limit is ${limitText}): retry after ${decision.retryAfterSeconds} s`,
              }),
            )
          return
        }
      }
      metrics?.checks.inc({outcome: 'accepted'})
      done()
    })
  }
  Object.assign(plugin, {[Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'mlship-auth'})
  return plugin
}

/** The key of a request: `Authorization: Bearer KEY`, else `X-API-Key: KEY`. */
function presentedKey(request: FastifyRequest): string | undefined {
  const {authorization} = request.headers
  if (authorization) {
    const bearer = /^bearer +(\S+) *$/i.exec(authorization)
    if (bearer) return bearer[1]
  }
  const apiKey = request.headers['x-api-key']
  const value = Array.isArray(apiKey) ? apiKey[0] : apiKey
  return value?.trim() || undefined
}

function refuse(reply: FastifyReply, status: number, challenge: string, message: string): void {
  void reply
    .code(status)
    .header('www-authenticate', challenge)
    .type('application/json')
    .send(JSON.stringify({error: message}))
}

interface AuthMetrics {
  checks: Counter<'outcome'>
  keys: Gauge
}

function authMetrics(registry: Registry): AuthMetrics {
  const checks = new Counter({
    help: 'Requests to routes that need an API key, by the outcome of the key check (never by key).',
    labelNames: ['outcome'] as const,
    name: 'mlship_auth_requests_total',
    registers: [registry],
  })
  // Every outcome is there from the start, at 0: an alert on refusals needs the series before the first refusal.
  for (const outcome of AUTH_OUTCOMES) checks.inc({outcome}, 0)
  const keys = new Gauge({
    help: 'API keys the server accepts now (after the last reload of the keys file).',
    name: 'mlship_auth_keys',
    registers: [registry],
  })
  return {checks, keys}
}

/**
 * Reads the keys file again every serving.auth.reload_interval_s: a rotated Kubernetes Secret (or an edited file)
 * takes effect without a restart. Polling rather than watching: a Secret volume swaps a symlink, which file watchers
 * follow badly, and reading a small file every few seconds costs nothing.
 */
function watchKeysFile(
  app: FastifyInstance,
  sources: KeySources,
  auth: AuthConfig,
  sinks: {every: NonNullable<ServingAuthOptions['every']>; limiter?: KeyRateLimiter; metrics?: AuthMetrics},
): void {
  let lastProblem: string | undefined
  let reloading = false
  const reload = async () => {
    if (reloading) return
    reloading = true
    try {
      const outcome = await sources.reload()
      if (outcome.changed) {
        lastProblem = undefined
        sinks.limiter?.retain(sources.keys.ids)
        sinks.metrics?.keys.set(sources.keys.size)
        app.log.info(
          {auth: {fingerprints: sources.keys.fingerprints, keys: sources.keys.size}},
          `API keys reloaded from ${sources.file}`,
        )
      } else if (outcome.problem && outcome.problem !== lastProblem) {
        lastProblem = outcome.problem
        app.log.warn({auth: {file: sources.file}}, `API keys not reloaded (the keys in force stay): ${outcome.problem}`)
      }
    } catch (error) {
      app.log.warn({auth: {file: sources.file}}, `API keys not reloaded: ${errorMessage(error)}`)
    } finally {
      reloading = false
    }
  }
  const stop = sinks.every(auth.reload_interval_s * 1000, reload)
  app.addHook('onClose', (_instance, done) => {
    stop()
    done()
  })
}

/** Says loudly, once listening, that anyone who reaches the port may call the model. */
function warnWhenExposed(app: FastifyInstance): void {
  // A Unix socket (a string) is reached through the file system, not the network.
  const exposed = app
    .addresses()
    .filter((address) => typeof address === 'object' && !isLoopback(address.address)) as AddressInfo[]
  if (exposed.length === 0) return
  const where = exposed.map((a) => (isIP(a.address) === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`))
  app.log.warn(
    {auth: {enabled: false, listening: where}},
    `API keys are off (serving.auth.enabled is false) and the server listens on ${where.join(', ')}: whoever reaches it can call the model and read /metrics. Turn serving.auth on for a server other machines can reach.`,
  )
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.') || address === 'localhost'
}
