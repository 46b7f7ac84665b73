import type {IncomingMessage, ServerResponse} from 'node:http'

import {ShedLog} from './admission.js'
import type {DoorGate} from './http-server.js'
import type {InferencePipeline} from './inference-pipeline.js'

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
export function loadSheddingGate(
  pipeline: InferencePipeline,
  options: {httpMetrics: boolean},
): DoorGate & {flush(): void} {
  const {metrics} = pipeline
  let shedLog: ShedLog | undefined
  const gate = (request: IncomingMessage, response: ServerResponse): boolean => {
    const route = inferenceRoute(request.method, request.url)
    if (route === undefined) return false
    const refusal = pipeline.refusal()
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
    if (pipeline.logger) {
      shedLog ??= new ShedLog(pipeline.logger)
      shedLog.record(refusal)
    }
    return true
  }
  return Object.assign(gate, {flush: () => shedLog?.flush()})
}
