import type {FastifyPluginAsync, FastifyRequest} from 'fastify'

import {counterSeries, type CounterSeries, histogramSeries, type HistogramSeries} from '../monitoring/series.js'
import {type RoutePluginOptions, VARIANT_HEADER} from './context.js'
import type {InferencePipeline} from './inference-pipeline.js'

const STARTED = Symbol('mlship.startedAt')

type TimedRequest = FastifyRequest & {[STARTED]?: bigint}

interface HttpSeries {
  duration: HistogramSeries
  errors: CounterSeries | undefined
  requests: CounterSeries
}

/**
 * The HTTP side of the inference pipeline (inference-pipeline.ts), beside the load-shedding gate (load-shedding.ts):
 * `GET /metrics` in the Prometheus text format, and the HTTP metrics behind it: requests, errors and duration by
 * route pattern (never the raw URL: label values stay bounded), method and status, and requests in flight. With
 * `monitoring.metrics: false` neither the route nor its hooks exist, so metrics cost nothing.
 *
 * Registered without encapsulation (what fastify-plugin does), so its hooks see every route of the server.
 */
export function metricsPlugin(pipeline: InferencePipeline): FastifyPluginAsync<RoutePluginOptions> {
  const plugin: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
    pipeline.logTo(app.log)
    if (pipeline.summary) app.log.info({scale: pipeline.summary}, 'serving at scale')
    const {metrics} = pipeline
    if (!context.project.config.monitoring.metrics) return
    // The series of each route, method, status and variant, bound once (series.ts), not resolved on every request:
    // the values are bounded (route patterns, methods, statuses, variants), and so is this map.
    const series = new Map<string, HttpSeries>()
    // Most requests in a row are of one series (POST /predict, 200): that one is found without making its key.
    let last:
      {method: string; route: string; status: number; variant: string | undefined; bound: HttpSeries} | undefined
    const seriesOf = (method: string, route: string, status: number, variant: string | undefined) => {
      if (last && last.status === status && last.route === route && last.method === method && last.variant === variant)
        return last.bound
      const key = `${method} ${route} ${status} ${variant ?? ''}`
      let bound = series.get(key)
      if (!bound) {
        const labels = {method, route, status: String(status), ...(variant === undefined ? {} : {variant})}
        bound = {
          duration: histogramSeries(metrics.httpDuration, labels),
          errors: status >= 400 ? counterSeries(metrics.httpErrors, labels) : undefined,
          requests: counterSeries(metrics.httpRequests, labels),
        }
        series.set(key, bound)
      }
      last = {bound, method, route, status, variant}
      return bound
    }

    app.addHook('onRequest', (request, reply, done) => {
      ;(request as TimedRequest)[STARTED] = process.hrtime.bigint()
      metrics.httpInFlight.inc()
      // A client that goes away after its whole body has arrived gets neither onResponse (nothing was sent) nor
      // onRequestAbort (the request was complete): the response's close comes in every case, after onResponse. It
      // comes once: `on`, without the wrapper `once` adds to every request.
      reply.raw.on('close', () => finish(request, reply.raw.writableFinished ? reply.statusCode : 499))
      done()
    })
    const finish = (request: FastifyRequest, status: number, variant?: unknown) => {
      const started = (request as TimedRequest)[STARTED]
      if (started === undefined) return
      ;(request as TimedRequest)[STARTED] = undefined
      metrics.httpInFlight.dec()
      const bound = seriesOf(
        request.method,
        request.routeOptions.url ?? 'unmatched',
        status,
        // The experiment's variant that answered (its header), so that every latency and error series has one.
        typeof variant === 'string' ? variant : undefined,
      )
      bound.requests.inc()
      bound.errors?.inc()
      bound.duration.observe(Number(process.hrtime.bigint() - started) / 1e9)
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
  Object.assign(plugin, {[Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'mlship-metrics'})
  return plugin
}
