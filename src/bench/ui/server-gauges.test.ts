import {describe, expect, it} from 'vitest'

import {createServingMetrics} from '../../monitoring/metrics.js'
import {GaugeScraper, metricsUrl, readGauges, unlabelledSamples} from './server-gauges.js'

describe("the server's gauges, from the /metrics an mlship server exposes", () => {
  it('reads queue depth, in-flight, batch sizes since the last scrape, CPU and memory', async () => {
    // Given a serving app's metrics after some work
    const metrics = createServingMetrics()
    metrics.queueDepth.set(7)
    metrics.httpInFlight.set(4) // three requests, and the scrape itself
    metrics.batchSize.observe(8)
    metrics.batchRequests.observe(2)
    const first = readGauges(await metrics.render(), 10_000)
    expect(first.gauges).toMatchObject({
      // no earlier scrape: no mean and no CPU rate yet
      at: 10_000,
      batchRequests: null,
      batchRows: null,
      cpuPercent: null,
      inFlight: 3,
      queueDepth: 7,
    })
    expect(first.gauges.memoryBytes).toBeGreaterThan(10_000_000)

    // When two more inferences ran before the next scrape
    metrics.batchSize.observe(16)
    metrics.batchSize.observe(32)
    metrics.batchRequests.observe(4)
    metrics.batchRequests.observe(6)
    const second = readGauges(await metrics.render(), 11_000, first.counters)

    // Then the batch size is the mean of those two alone, and the CPU a rate over the interval
    expect(second.gauges.batchRows).toBe(24)
    expect(second.gauges.batchRequests).toBe(5)
    expect(second.gauges.cpuPercent).toBeGreaterThanOrEqual(0)
    // And with no inference since, the batch size is "none", not the old mean
    expect(readGauges(await metrics.render(), 12_000, second.counters).gauges.batchRows).toBeNull()
  })

  it('reads unlabelled samples only, whatever the comments, labels and timestamps around them', () => {
    const text = [
      '# HELP mlship_inference_queue_depth Requests waiting for an inference worker.',
      '# TYPE mlship_inference_queue_depth gauge',
      'mlship_inference_queue_depth 12',
      'mlship_http_requests_total{route="/predict",status="200"} 5',
      'mlship_process_cpu_seconds_total 3.25 1700000000000',
      'mlship_nonsense NaN',
    ].join('\n')
    expect([...unlabelledSamples(text)]).toEqual([
      ['mlship_inference_queue_depth', 12],
      ['mlship_process_cpu_seconds_total', 3.25],
    ])
  })

  it('computes CPU as percent of one core over the time between scrapes', () => {
    const text = (seconds: number) => `mlship_process_cpu_seconds_total ${seconds}\n`
    const first = readGauges(text(10), 0)
    expect(readGauges(text(11.5), 1000, first.counters).gauges.cpuPercent).toBe(150)
  })

  it('says once why a server has no /metrics, and does not ask again', async () => {
    let asked = 0
    const scraper = new GaugeScraper(metricsUrl('http://127.0.0.1:9/predict'), () => {
      asked++
      return Promise.resolve({status: 404, text: 'not found'})
    })
    expect(await scraper.scrape()).toBeNull()
    expect(scraper.unavailable).toBe(
      'http://127.0.0.1:9/metrics answers 404: not an mlship server, or monitoring.metrics is false in model.yaml',
    )
    expect(await scraper.scrape()).toBeNull()
    expect(asked).toBe(1)
  })

  it('skips a scrape that fails (a busy server) and tries again the next second', async () => {
    const answers = [new Error('timeout'), {status: 200, text: 'mlship_inference_queue_depth 3\n'}]
    const scraper = new GaugeScraper('http://127.0.0.1:9/metrics', () => {
      const answer = answers.shift()!
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)
    })
    expect(await scraper.scrape()).toBeNull()
    expect(scraper.unavailable).toBeNull()
    expect((await scraper.scrape())?.queueDepth).toBe(3)
  })
})
