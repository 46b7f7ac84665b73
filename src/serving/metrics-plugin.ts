import type {FastifyPluginAsync, FastifyRequest} from 'fastify'

import type {RoutePluginOptions} from './context.js'
import type {ScaleLayer} from './scale.js'

const STARTED = Symbol('mlship.startedAt')

type TimedRequest = FastifyRequest & {[STARTED]?: bigint}

/**
 * `GET /metrics` in the Prometheus text format, and the HTTP metrics behind it: requests, errors and duration by
 * route pattern (never the raw URL: label values stay bounded), method and status, and requests in flight. With
 * `monitoring.metrics: false` neither the route nor the hooks exist, so metrics cost nothing.
 *
 * Registered without encapsulation (what fastify-plugin does), so its hooks see every route of the server.
 */
export function metricsPlugin(layer: ScaleLayer): FastifyPluginAsync<RoutePluginOptions> {
  const plugin: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
    layer.logger = app.log
    const summary = layer.summary
    if (summary) app.log.info({scale: summary}, 'serving at scale')
    if (!context.project.config.monitoring.metrics) return

    const {metrics} = layer
    app.addHook('onRequest', (request, _reply, done) => {
      ;(request as TimedRequest)[STARTED] = process.hrtime.bigint()
      metrics.httpInFlight.inc()
      done()
    })
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
  Object.assign(plugin, {[Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'mlship-metrics'})
  return plugin
}
