import type {IncomingMessage, ServerResponse} from 'node:http'

import type {FastifyPluginAsync, FastifyRequest} from 'fastify'

import {ShedLog} from './admission.js'
import {type RoutePluginOptions, VARIANT_HEADER} from './context.js'
import type {DoorGate} from './http-server.js'
import type {ScaleLayer} from './scale.js'

const STARTED = Symbol('mlship.startedAt')

type TimedRequest = FastifyRequest & {[STARTED]?: bigint}

/** The route pattern of an inference request (as fastify names it in the metrics), or undefined for any other. */
export function inferenceRoute(method: string | undefined, url: string | undefined): string | undefined {
  if (method !== 'POST' || url === undefined) return undefined
  const query = url.indexOf('?')
  const path = query === -1 ? url : url.slice(0, query)
  if (path === '/predict') return '/predict'
  const v2 = /^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer$/.exec(path)
  if (!v2) return undefined
  return v2[1] ? '/v2/models/:name/versions/:version/infer' : '/v2/models/:name/infer'
}

/**
 * Load shedding at the door: while the queue is full, an inference request is answered 503 with Retry-After on the
 * raw HTTP request, before the web framework routes it, builds its request and reply, runs its hooks or reads its
 * body. Refusing then costs about a third less CPU than through the framework (BENCHMARKS.md, "Overload"), and under
 * overload that CPU is what the accepted requests need: at twice the saturation rate half the requests are refusals.
 * Refusals are counted in the same metrics as other requests (the HTTP ones where `httpMetrics`, as
 * monitoring.metrics says), and logged as one summary a second (ShedLog).
 */
export function loadSheddingGate(layer: ScaleLayer, options: {httpMetrics: boolean}): DoorGate & {flush(): void} {
  const {metrics} = layer
  let shedLog: ShedLog | undefined
  const gate = (request: IncomingMessage, response: ServerResponse): boolean => {
    const route = inferenceRoute(request.method, request.url)
    if (route === undefined) return false
    const refusal = layer.batcher?.refusal()
    if (!refusal) return false
    const started = process.hrtime.bigint()
    const body = JSON.stringify({error: refusal.message})
    response.writeHead(503, {
      ...refusal.headers,
      'content-length': Buffer.byteLength(body),
      'content-type': 'application/json; charset=utf-8',
    })
    response.end(body)
    metrics.rejected.inc({reason: 'queue_full'})
    if (options.httpMetrics) {
      const labels = {method: 'POST', route, status: '503'}
      metrics.httpRequests.inc(labels)
      metrics.httpErrors.inc(labels)
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9)
    }
    if (layer.logger) {
      shedLog ??= new ShedLog(layer.logger)
      shedLog.record(refusal)
    }
    return true
  }
  return Object.assign(gate, {flush: () => shedLog?.flush()})
}

/**
 * The HTTP side of the scale layer (scale.ts), beside the load-shedding gate above: `GET /metrics` in the Prometheus
 * text format, and the HTTP metrics behind it: requests, errors and duration by route pattern (never the raw URL:
 * label values stay bounded), method and status, and requests in flight. With `monitoring.metrics: false` neither
 * the route nor its hooks exist, so metrics cost nothing.
 *
 * Registered without encapsulation (what fastify-plugin does), so its hooks see every route of the server.
 */
export function scalePlugin(layer: ScaleLayer): FastifyPluginAsync<RoutePluginOptions> {
  const plugin: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
    layer.logger = app.log
    if (layer.summary) app.log.info({scale: layer.summary}, 'serving at scale')
    const {metrics} = layer
    if (!context.project.config.monitoring.metrics) return

    app.addHook('onRequest', (request, reply, done) => {
      ;(request as TimedRequest)[STARTED] = process.hrtime.bigint()
      metrics.httpInFlight.inc()
      // A client that goes away after its whole body has arrived gets neither onResponse (nothing was sent) nor
      // onRequestAbort (the request was complete): the response's close comes in every case, after onResponse.
      reply.raw.once('close', () => finish(request, reply.raw.writableFinished ? reply.statusCode : 499))
      done()
    })
    const finish = (request: FastifyRequest, status: number, variant?: unknown) => {
      const started = (request as TimedRequest)[STARTED]
      if (started === undefined) return
      ;(request as TimedRequest)[STARTED] = undefined
      metrics.httpInFlight.dec()
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(status),
        // The experiment's variant that answered (its header), so that every latency and error series has one.
        ...(typeof variant === 'string' ? {variant} : {}),
      }
      metrics.httpRequests.inc(labels)
      if (status >= 400) metrics.httpErrors.inc(labels)
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9)
    }
    app.addHook('onResponse', (request, reply, done) => {
      finish(request, reply.statusCode, reply.getHeader(VARIANT_HEADER))
      done()
    })

    app.get('/metrics', async (_request, reply) => {
      reply.type(metrics.contentType)
      return metrics.render()
    })
  }
  Object.assign(plugin, {[Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'mlship-scale'})
  return plugin
}
