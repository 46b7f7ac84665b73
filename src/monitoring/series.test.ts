import {describe, expect, it, vi} from 'vitest'

import {createServingMetrics} from './metrics.js'
import {counterSeries, histogramSeries} from './series.js'

/** Two registries fed the same values: one through series, one through prom-client's own inc and observe. */
function twins() {
  return {fast: createServingMetrics({processMetrics: false}), reference: createServingMetrics({processMetrics: false})}
}

const HTTP = {method: 'POST', route: '/predict', status: '200'}
const VARIANT = {method: 'POST', route: '/predict', status: '503', variant: 'b'}

describe('counterSeries and histogramSeries', () => {
  it("count exactly what prom-client's own inc and observe count, in its text and JSON", async () => {
    const {fast, reference} = twins()
    const requests = counterSeries(fast.httpRequests, HTTP)
    const shed = counterSeries(fast.httpRequests, VARIANT)
    const duration = histogramSeries(fast.httpDuration, HTTP)
    const confidence = histogramSeries(fast.predictionConfidence, {output: 'probabilities'})
    // Below, on, between and past the bounds (past the last one: only +Inf, the sum and the count).
    const seconds = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.3, 10, 30, 31, 1e6]
    for (const value of seconds) {
      duration.observe(value)
      reference.httpDuration.observe(HTTP, value)
      requests.inc()
      reference.httpRequests.inc(HTTP)
    }
    shed.inc(3)
    reference.httpRequests.inc(VARIANT, 3)
    for (const value of [0.05, 0.95, 1, 0.999, -0.5]) {
      confidence.observe(value)
      reference.predictionConfidence.observe({output: 'probabilities'}, value)
    }
    expect(await fast.render()).toBe(await reference.render())
    expect(await fast.snapshot()).toEqual(await reference.snapshot())
    expect(await fast.render()).toContain('mlship_http_requests_total{method="POST",route="/predict",status="200"} 10')
  })

  it('follow a series set to zero (zero) or cleared (reset) as prom-client does', async () => {
    const {fast, reference} = twins()
    const labels = {variant: 'a'}
    const batches = histogramSeries(fast.batchSize, labels)
    const hits = counterSeries(fast.cacheHits, labels)
    for (const metrics of [fast, reference]) metrics.batchSize.zero(labels)
    batches.observe(4)
    reference.batchSize.observe(labels, 4)
    for (const metrics of [fast, reference]) {
      metrics.batchSize.reset()
      metrics.cacheHits.reset()
    }
    batches.observe(2)
    reference.batchSize.observe(labels, 2)
    batches.observe(2)
    reference.batchSize.observe(labels, 2)
    hits.inc()
    reference.cacheHits.inc(labels)
    expect(await fast.render()).toBe(await reference.render())
    expect(await fast.render()).toContain('mlship_inference_batch_size_count{variant="a"} 2')
  })

  it("take prom-client's own path only for a series' first value (if it took it always, they would save nothing)", () => {
    const {fast} = twins()
    const observe = vi.spyOn(fast.httpDuration, 'observe')
    const inc = vi.spyOn(fast.httpRequests, 'inc')
    const duration = histogramSeries(fast.httpDuration, VARIANT)
    const requests = counterSeries(fast.httpRequests, VARIANT)
    for (let i = 0; i < 5; i++) {
      duration.observe(0.01)
      requests.inc()
    }
    expect(observe).toHaveBeenCalledTimes(1)
    expect(inc).toHaveBeenCalledTimes(1)
  })

  it('refuse the values prom-client refuses, with its errors', () => {
    const {fast} = twins()
    const duration = histogramSeries(fast.httpDuration, HTTP)
    const requests = counterSeries(fast.httpRequests, HTTP)
    duration.observe(0.1)
    requests.inc()
    expect(() => duration.observe(Number.NaN)).toThrow(/Value is not a valid number/)
    expect(() => requests.inc(-1)).toThrow(/not possible to decrease a counter/)
    expect(() => requests.inc(Number.POSITIVE_INFINITY)).toThrow(/Value is not a valid number/)
  })
})
