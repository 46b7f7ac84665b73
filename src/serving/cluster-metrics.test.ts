import {Counter, Gauge, Histogram, Registry} from 'prom-client'
import {describe, expect, it} from 'vitest'

import type {MetricsSnapshot} from '../monitoring/metrics.js'
import {readSample} from '../monitoring/test-support/exposition.js'
import {ClusterMetrics} from './cluster-metrics.js'

/** One HTTP process's metrics, as its registry would send them: a counter, a histogram, a gauge. */
function processMetrics() {
  const registry = new Registry()
  const registers = [registry]
  const requests = new Counter({help: 'requests', name: 'mlship_http_requests_total', registers})
  const duration = new Histogram({buckets: [1], help: 'duration', name: 'mlship_duration_seconds', registers})
  const rss = new Gauge({help: 'rss', name: 'mlship_process_resident_memory_bytes', registers})
  return {duration, registry, requests, rss, snapshot: () => registry.getMetricsAsJSON()}
}

/** A cluster whose processes answer (or not) as the test says. */
function cluster(processes: Map<number, ReturnType<typeof processMetrics>>, options: {now?: () => number} = {}) {
  const answering = new Set(processes.keys())
  let collects = 0
  const metrics = new ClusterMetrics({
    collect: async () => {
      collects++
      const answers = new Map<number, MetricsSnapshot>()
      for (const [index, each] of processes) if (answering.has(index)) answers.set(index, await each.snapshot())
      return answers
    },
    now: options.now ?? (() => 0),
    reuseMs: options.now ? 1000 : 0,
  })
  return {answering, collects: () => collects, metrics}
}

describe('ClusterMetrics', () => {
  it('counts a process that misses the deadline with its last answer, so the sum never drops', async () => {
    const [one, two] = [processMetrics(), processMetrics()]
    one.requests.inc(5)
    two.requests.inc(7)
    const {answering, metrics} = cluster(
      new Map([
        [1, one],
        [2, two],
      ]),
    )
    expect(readSample(await metrics.render(), 'mlship_http_requests_total')).toBe(12)
    answering.delete(2)
    one.requests.inc(1)
    expect(readSample(await metrics.render(), 'mlship_http_requests_total')).toBe(13)
  })

  it("carries a stopped process's counters and histograms into its replacement, but not its gauges", async () => {
    const [one, two] = [processMetrics(), processMetrics()]
    one.requests.inc(5)
    two.requests.inc(7)
    two.duration.observe(0.5)
    two.duration.observe(2)
    one.rss.set(100)
    two.rss.set(200)
    const processes = new Map([
      [1, one],
      [2, two],
    ])
    const {answering, metrics} = cluster(processes)
    const first = await metrics.render()
    expect(readSample(first, 'mlship_process_resident_memory_bytes')).toBe(300)
    // Process 2 dies; until its replacement answers, its counters stand as they were.
    metrics.retire(2)
    answering.delete(2)
    const between = await metrics.render()
    expect(readSample(between, 'mlship_http_requests_total')).toBe(12)
    expect(readSample(between, 'mlship_duration_seconds_count')).toBe(2)
    expect(readSample(between, 'mlship_process_resident_memory_bytes')).toBe(100)
    // Its replacement starts from 0 and adds to them.
    const replacement = processMetrics()
    replacement.requests.inc(1)
    replacement.duration.observe(0.5)
    replacement.rss.set(50)
    processes.set(2, replacement)
    answering.add(2)
    const after = await metrics.render()
    expect(readSample(after, 'mlship_http_requests_total')).toBe(13)
    expect(readSample(after, 'mlship_duration_seconds_count')).toBe(3)
    expect(readSample(after, 'mlship_duration_seconds_sum')).toBe(3)
    expect(readSample(after, 'mlship_duration_seconds_bucket', {le: '1'})).toBe(2)
    expect(readSample(after, 'mlship_process_resident_memory_bytes')).toBe(150)
    // A second death of the same number adds up.
    metrics.retire(2)
    processes.set(2, processMetrics())
    expect(readSample(await metrics.render(), 'mlship_http_requests_total')).toBe(13)
  })

  it("adds the primary's own process metrics", async () => {
    const one = processMetrics()
    one.rss.set(100)
    const primary = processMetrics()
    primary.rss.set(40)
    const metrics = new ClusterMetrics({
      collect: async () => new Map([[1, await one.snapshot()]]),
      own: () => primary.snapshot(),
      reuseMs: 0,
    })
    expect(readSample(await metrics.render(), 'mlship_process_resident_memory_bytes')).toBe(140)
  })

  it('shares one collect between concurrent scrapes and reuses its answer for a second', async () => {
    const one = processMetrics()
    let time = 0
    const {collects, metrics} = cluster(new Map([[1, one]]), {now: () => time})
    const answers = await Promise.all([metrics.render(), metrics.render(), metrics.render()])
    expect(collects()).toBe(1)
    expect(new Set(answers).size).toBe(1)
    time = 999
    one.requests.inc()
    expect(readSample(await metrics.render(), 'mlship_http_requests_total')).toBe(0)
    expect(collects()).toBe(1)
    time = 1000
    expect(readSample(await metrics.render(), 'mlship_http_requests_total')).toBe(1)
    expect(collects()).toBe(2)
  })

  it('lets the next scrape try again after a failed collect', async () => {
    let fail = true
    const metrics = new ClusterMetrics({
      collect: () => (fail ? Promise.reject(new Error('no IPC')) : Promise.resolve(new Map())),
      now: () => 0,
    })
    await expect(metrics.render()).rejects.toThrow('no IPC')
    fail = false
    await expect(metrics.render()).resolves.toBeTypeOf('string')
  })
})
