import {describe, expect, it} from 'vitest'

import {assertAboveFloor, type BenchResult, type DeviceRun} from './bench.js'
import {renderHtmlReport} from './report-html.js'
import {comparisonTable, interpolate, latencyChart} from './report-text.js'
import {DEFAULT_SLO, type StepResult} from './step-result.js'

function step(offeredRps: number, p99Ms: number, verdict: 'ok' | 'degraded' = 'ok'): StepResult {
  return {
    achievedRps: offeredRps,
    arrival: 'constant',
    durationS: 5,
    errors: {byKind: {connection: 0, other: 0, timeout: 0}, byStatus: {}, rate: 0, total: 0},
    generator: {eventLoopDelayP99Ms: 1, late: 0, lateThresholdMs: 10, limited: false, sendLagMaxMs: 1, sendLagP99Ms: 1},
    latencyMs: {
      count: 100,
      maxMs: p99Ms * 1.2,
      meanMs: p99Ms / 3,
      p50Ms: p99Ms / 4,
      p90Ms: p99Ms / 2,
      p95Ms: p99Ms / 1.5,
      p99Ms,
      p999Ms: p99Ms * 1.1,
    },
    offeredRps,
    ok: 100,
    reasons: [],
    requests: 100,
    sentRps: offeredRps,
    throughputRps: offeredRps,
    verdict,
    warmupS: 1,
  }
}

const run = (device: 'cpu' | 'gpu', steps: StepResult[], knee: number): DeviceRun => ({
  device,
  durationS: 30,
  executionProvider: device === 'cpu' ? 'cpu' : 'cuda',
  imageSizeBytes: 180e6,
  knee: {firstDegradedRps: knee * 2, limitedBy: 'server', note: `knee ${knee}`, rps: knee},
  steps,
  timeToReadyMs: 900,
})

const result: BenchResult = {
  gpu: {reason: null, requested: true, usable: true},
  mode: 'sweep',
  payload: {batchSize: 1, bodies: 1, source: 'test'},
  runs: [
    run('cpu', [step(100, 5), step(200, 8), step(400, 300, 'degraded')], 200),
    run('gpu', [step(100, 3), step(200, 4), step(400, 6)], 400),
  ],
  schemaVersion: 1,
  settings: {
    arrival: 'constant',
    connections: 64,
    durationS: 5,
    lateThresholdMs: 10,
    maxDurationS: 120,
    timeoutMs: 5000,
    warmupS: 1,
  },
  slo: DEFAULT_SLO,
  target: {kind: 'container', method: 'POST', url: 'http://127.0.0.1:8080/predict'},
}

describe('bench reports', () => {
  it('interpolates between measured steps', () => {
    expect(interpolate(result.runs[0]!.steps, 150, (s) => s.latencyMs.p99Ms)).toBeCloseTo(6.5)
    expect(interpolate(result.runs[0]!.steps, 50, (s) => s.latencyMs.p99Ms)).toBe(5)
  })

  it('puts the devices side by side: knee, provider, time to ready, image size, p99 at the rates both measured', () => {
    const table = comparisonTable(result)
    expect(table).toMatch(/knee \(req\/s\)\s+200\s+400/)
    expect(table).toMatch(/execution provider\s+cpu\s+cuda/)
    expect(table).toMatch(/p99 at 400\/s\s+300 ms DEGRADED\s+6.00 ms/)
  })

  it('draws the terminal chart and an HTML report with both devices overlaid', () => {
    expect(latencyChart(result.runs, DEFAULT_SLO)).toMatch(/cpu p99, cpu p50, gpu p99, gpu p50, SLO 100 ms/)
    const html = renderHtmlReport(result, new Date(0))
    expect(html.match(/<svg /g)).toHaveLength(2)
    expect(html).toContain('<title>cpu p99</title>')
    expect(html).toContain('<title>gpu p99</title>')
    expect(html).toContain('knee 400/s')
  })

  it('names the model and its version in the HTML report, where model.yaml gave them', () => {
    const html = renderHtmlReport({...result, model: {name: 'iris-classifier', version: '1.2.0'}}, new Date(0))
    expect(html).toMatch(/<title>mlship bench: iris-classifier 1\.2\.0, POST http/)
    expect(html).toMatch(/<h1>mlship bench: iris-classifier 1\.2\.0, POST http/)
  })
})

// bench.ts's release gate, on the same result as the reports above (knees 200 and 400 req/s).
describe('assertAboveFloor', () => {
  it('passes a knee at or over --fail-below, and gates on the lowest device', () => {
    expect(() => assertAboveFloor(result, undefined)).not.toThrow()
    expect(() => assertAboveFloor(result, 200)).not.toThrow()
    expect(() => assertAboveFloor(result, 201)).toThrow(
      expect.objectContaining({
        code: 'BENCH_BELOW_SLO',
        exitCode: 7,
        message: 'The knee is 200 req/s, under --fail-below 201 req/s',
      }),
    )
  })

  it('gates a fixed-rate run on its achieved rate, and a degraded step as 0 req/s', () => {
    const fixed = (verdict: 'ok' | 'degraded'): BenchResult => ({
      ...result,
      mode: 'fixed-rate',
      runs: [{...result.runs[0]!, knee: null, steps: [step(300, 5, verdict)]}],
    })
    expect(() => assertAboveFloor(fixed('ok'), 300)).not.toThrow()
    expect(() => assertAboveFloor(fixed('degraded'), 1)).toThrow(/The achieved rate is 0 req\/s, under --fail-below 1/)
  })
})
