import type {FastifyPluginAsync, FastifyRequest} from 'fastify'

import type {RoutePluginOptions} from './context.js'
import type {ScaleLayer} from './scale.js'

const STARTED = Symbol('mlship.startedAt')
const INFERENCE_ROUTES = /^\/predict$|\/infer$/

type TimedRequest = FastifyRequest & {[STARTED]?: bigint}

/**
 * The HTTP side of the scale layer (scale.ts):
 * - load shedding at the door: while the queue is full, an inference request is refused with 503 and Retry-After
 *   before its body is read, parsed and validated, so that refusing costs next to nothing and the CPU stays with the
 *   accepted requests;
 * - `GET /metrics` in the Prometheus text format, and the HTTP metrics behind it: requests, errors and duration by
 *   route pattern (never the raw URL: label values stay bounded), method and status, and requests in flight. With
 *   `monitoring.metrics: false` neither the route nor its hooks exist, so metrics cost nothing.
 *
 * Registered without encapsulation (what fastify-plugin does), so its hooks see every route of the server.
 */
export function scalePlugin(layer: ScaleLayer): FastifyPluginAsync<RoutePluginOptions> {
  const plugin: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
    layer.logger = app.log
    if (layer.summary) app.log.info({scale: layer.summary}, 'serving at scale')
    const {metrics} = layer
    const metricsOn = context.project.config.monitoring.metrics

    // First, so that a request refused at the door is timed and counted too.
    if (metricsOn) {
      app.addHook('onRequest', (request, _reply, done) => {
        ;(request as TimedRequest)[STARTED] = process.hrtime.bigint()
        metrics.httpInFlight.inc()
        done()
      })
    }

    app.addHook('onRequest', (request, reply, done) => {
      const refusal =
        request.method === 'POST' && INFERENCE_ROUTES.test(request.routeOptions.url ?? '') ? layer.batcher?.refusal() : undefined
      if (!refusal) {
        done()
        return
      }
      metrics.rejected.inc({reason: 'queue_full'})
      void reply.code(503).headers(refusal.headers).type('application/json').send(JSON.stringify({error: refusal.message}))
    })

    if (!metricsOn) return
    const finish = (request: FastifyRequest, status: number) => {
      const started = (request as TimedRequest)[STARTED]
      if (started === undefined) return
      ;(request as TimedRequest)[STARTED] = undefined
      metrics.httpInFlight.dec()
      const labels = {method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(status)}
      metrics.httpRequests.inc(labels)
      if (status >= 400) metrics.httpErrors.inc(labels)
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9)
    }
    app.addHook('onResponse', (request, reply, done) => {
      finish(request, reply.statusCode)
      done()
    })
    app.addHook('onRequestAbort', (request, done) => {
      finish(request, 499)
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
