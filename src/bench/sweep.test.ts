import {describe, expect, it, vi} from 'vitest'

import {arrivalGaps} from './schedule.js'
import {DEFAULT_SLO, type StepResult} from './step-result.js'
import {roundRate, type SweepOptions, sweepForKnee} from './sweep.js'

/** A step of a server with a hard capacity: healthy up to it, degraded past it. */
function syntheticStep(rate: number, capacity: number, generatorLimitAbove = Infinity): StepResult {
  const ok = rate <= capacity
  return {
    achievedRps: Math.min(rate, capacity),
    arrival: 'constant',
    durationS: 1,
    errors: {byKind: {connection: 0, other: 0, timeout: 0}, byStatus: {}, rate: 0, total: 0},
    generator: {
      eventLoopDelayP99Ms: 1,
      late: 0,
      lateThresholdMs: 10,
      limited: rate > generatorLimitAbove,
      sendLagMaxMs: 1,
      sendLagP99Ms: 1,
    },
    latencyMs: {count: rate, maxMs: 1, meanMs: 1, p50Ms: 1, p90Ms: 1, p95Ms: 1, p99Ms: ok ? 5 : 500, p999Ms: 1},
    offeredRps: rate,
    ok: rate,
    reasons: ok ? [] : ['p99 500 ms is over the SLO of 100 ms'],
    requests: rate,
    sentRps: rate,
    throughputRps: rate,
    verdict: ok ? 'ok' : 'degraded',
    warmupS: 0,
  }
}

const options: SweepOptions = {
  cooldownMs: 0,
  factor: 2,
  maxDurationMs: 60_000,
  maxRate: 100_000,
  minRate: 1,
  precision: 0.05,
  slo: DEFAULT_SLO,
  startRate: 50,
  stepCostMs: 0,
}

describe('the knee search', () => {
  it('steps up geometrically, then bisects to within the precision', async () => {
    const rates: number[] = []
    const result = await sweepForKnee(async (rate) => (rates.push(rate), syntheticStep(rate, 1234)), options)
    expect(rates.slice(0, 7)).toEqual([50, 100, 200, 400, 800, 1600, 1130])
    expect(result.knee.rps).toBeGreaterThan(1234 / 1.06)
    expect(result.knee.rps).toBeLessThanOrEqual(1234)
    expect(result.knee.firstDegradedRps! / result.knee.rps!).toBeLessThanOrEqual(1.05)
    expect(result.knee.limitedBy).toBe('server')
    expect(rates.length).toBeLessThan(15)
  })

  it('steps down when even the first rate degrades, and says when none passes', async () => {
    const low = await sweepForKnee(async (rate) => syntheticStep(rate, 12), options)
    expect(low.knee.rps).toBeLessThanOrEqual(12)
    expect(low.knee.rps).toBeGreaterThanOrEqual(11)
    const none = await sweepForKnee(async (rate) => syntheticStep(rate, 0), options)
    expect(none.knee.rps).toBeNull()
    expect(none.knee.limitedBy).toBe('below-min-rate')
  })

  it('stops at --max-rate and within the time budget', async () => {
    const capped = await sweepForKnee(async (rate) => syntheticStep(rate, 1e9), {...options, maxRate: 300})
    expect(capped.knee).toMatchObject({limitedBy: 'max-rate', rps: 300})
    // Steps that take 100 ms each (on a faked clock), a budget of 350 ms: a step is started only when it still fits.
    vi.useFakeTimers({toFake: ['Date']})
    try {
      let steps = 0
      const slow = (rate: number) => {
        steps++
        vi.advanceTimersByTime(100)
        return Promise.resolve(syntheticStep(rate, 1e9))
      }
      const budget = await sweepForKnee(slow, {...options, maxDurationMs: 350, stepCostMs: 100})
      expect(budget.knee.limitedBy).toBe('time-budget')
      expect(steps).toBe(3)
      expect(budget.durationS).toBe(0.3)
    } finally {
      vi.useRealTimers()
    }
  })

  it('blames the generator, not the server, when the first degraded step was generator-limited', async () => {
    const result = await sweepForKnee(async (rate) => syntheticStep(rate, 500, 400), options)
    expect(result.knee.limitedBy).toBe('generator')
    expect(result.knee.note).toMatch(/load generator itself/)
  })

  it('rounds rates to whole numbers, and three significant digits from 1,000', () => {
    expect([roundRate(47.4), roundRate(678.9), roundRate(1234), roundRate(98_765)]).toEqual([47, 679, 1230, 98_800])
  })
})

describe('arrival schedules', () => {
  it('keep the mean rate: constant gaps, and exponential (Poisson) gaps from a seeded generator', () => {
    const constant = arrivalGaps('constant', 200)
    expect(constant()).toBe(5)
    const poisson = arrivalGaps('poisson', 200, 42)
    const gaps = Array.from({length: 20_000}, poisson)
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length
    expect(mean).toBeGreaterThan(4.85)
    expect(mean).toBeLessThan(5.15)
    // Exponential: the standard deviation equals the mean.
    const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / gaps.length)
    expect(sd / mean).toBeGreaterThan(0.9)
    expect(sd / mean).toBeLessThan(1.1)
    expect(arrivalGaps('poisson', 200, 42)()).toBe(gaps[0])
  })
})
