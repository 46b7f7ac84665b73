import {describe, expect, it} from 'vitest'

import {isMlshipError} from '../errors.js'
import {
  CHEAP_ROW_MS,
  chooseLayout,
  layoutSettings,
  MEASURE_MAX_BYTES,
  measureRowCost,
  needsMeasurement,
  processLimits,
  shareOf,
} from './layout.js'

const auto = {device: 'cpu' as const, setting: 'auto' as const}

describe('chooseLayout', () => {
  it('puts a cheap model on one HTTP process per usable CPU', () => {
    expect(chooseLayout({...auto, cpus: 2, rowCostMs: 0.015})).toMatchObject({kind: 'cluster', processes: 2})
    expect(chooseLayout({...auto, cpus: 8, rowCostMs: CHEAP_ROW_MS})).toMatchObject({kind: 'cluster', processes: 8})
    expect(chooseLayout({...auto, cpus: 8, processes: 3, rowCostMs: 0.01})).toMatchObject({
      kind: 'cluster',
      processes: 3,
    })
  })

  it('keeps an expensive model on one process with its inference workers and batcher, and says why', () => {
    const layout = chooseLayout({...auto, cpus: 16, rowCostMs: 0.22})
    expect(layout.kind).toBe('single')
    expect(layout.reason).toMatch(/0\.220 ms \(over 0\.1 ms\)/)
  })

  it('keeps one process where more cannot help or cannot work, whatever the model costs', () => {
    expect(chooseLayout({...auto, cpus: 1, rowCostMs: 0.01})).toMatchObject({kind: 'single', reason: '1 usable CPU'})
    expect(chooseLayout({...auto, cpus: 4, processes: 1, rowCostMs: 0.01}).kind).toBe('single')
    expect(chooseLayout({...auto, cpus: 4, device: 'cuda', rowCostMs: 0.01}).reason).toMatch(/GPU/)
    expect(chooseLayout({...auto, cpus: 4, rowCostMs: 0.01, singleOnly: 'an experiment'}).reason).toBe('an experiment')
    expect(chooseLayout({...auto, cpus: 4}).reason).toMatch(/not measured/)
  })

  it('follows MLSHIP_SERVING_LAYOUT, and refuses a cluster that cannot work', () => {
    expect(chooseLayout({...auto, cpus: 4, rowCostMs: 50, setting: 'cluster'})).toMatchObject({
      kind: 'cluster',
      processes: 4,
    })
    expect(chooseLayout({...auto, cpus: 4, rowCostMs: 0.01, setting: 'single'}).kind).toBe('single')
    for (const input of [
      {...auto, cpus: 4, device: 'cuda' as const, setting: 'cluster' as const},
      {...auto, cpus: 4, setting: 'cluster' as const, singleOnly: 'an experiment'},
    ]) {
      let thrown: unknown
      try {
        chooseLayout(input)
      } catch (error) {
        thrown = error
      }
      expect(isMlshipError(thrown) && thrown.code).toBe('LAYOUT_UNAVAILABLE')
    }
  })
})

describe('needsMeasurement', () => {
  it('opens and times only a small model file, under auto, where the cluster is possible', () => {
    expect(needsMeasurement({...auto, cpus: 4, modelBytes: 1024})).toBe(true)
    expect(needsMeasurement({...auto, cpus: 4, modelBytes: MEASURE_MAX_BYTES})).toBe(true)
    // A large model would be opened twice before /ready: it is not a cheap one, so it is not measured.
    expect(needsMeasurement({...auto, cpus: 4, modelBytes: MEASURE_MAX_BYTES + 1})).toBe(false)
    expect(needsMeasurement({...auto, cpus: 16, modelBytes: 2 * 1024 ** 3})).toBe(false)
    expect(needsMeasurement({...auto, cpus: 1, modelBytes: 1024})).toBe(false)
    expect(needsMeasurement({...auto, cpus: 4, modelBytes: 1024, setting: 'cluster'})).toBe(false)
    expect(needsMeasurement({...auto, cpus: 4, modelBytes: 1024, singleOnly: 'an experiment'})).toBe(false)
  })

  it('chooses single for a large model file without a measurement, and says why', () => {
    const layout = chooseLayout({...auto, cpus: 16, modelBytes: 2 * 1024 ** 3})
    expect(layout).toEqual({kind: 'single', reason: 'the model file is over 16 MiB: not a cheap model'})
    // MLSHIP_SERVING_LAYOUT=cluster still forces it.
    expect(chooseLayout({...auto, cpus: 16, modelBytes: 2 * 1024 ** 3, setting: 'cluster'}).kind).toBe('cluster')
  })
})

describe('layoutSettings', () => {
  it('reads MLSHIP_SERVING_LAYOUT and MLSHIP_SERVING_PROCESSES', () => {
    expect(layoutSettings({})).toEqual({setting: 'auto'})
    expect(layoutSettings({MLSHIP_SERVING_LAYOUT: ' Cluster ', MLSHIP_SERVING_PROCESSES: '3'})).toEqual({
      processes: 3,
      setting: 'cluster',
    })
  })

  it('refuses values it cannot use, naming the variable', () => {
    expect(() => layoutSettings({MLSHIP_SERVING_LAYOUT: 'threads'})).toThrow(/MLSHIP_SERVING_LAYOUT="threads"/)
    expect(() => layoutSettings({MLSHIP_SERVING_PROCESSES: '0'})).toThrow(/MLSHIP_SERVING_PROCESSES="0"/)
    expect(() => layoutSettings({MLSHIP_SERVING_PROCESSES: '1.5'})).toThrow(/not a process count/)
  })
})

describe('shareOf', () => {
  it('divides a cluster-wide limit among the processes, rounding up, never below 1', () => {
    expect(shareOf(256, 2)).toBe(128)
    expect(shareOf(255, 2)).toBe(128)
    expect(shareOf(3, 8)).toBe(1)
  })
})

describe('processLimits', () => {
  const project = (rateLimit?: {requests_per_second: number; burst?: number}) => ({
    config: {serving: {auth: rateLimit ? {rate_limit: rateLimit} : {}, max_queue: 256}},
  })

  it("gives each process a key's whole rate and burst: a keep-alive client's one connection reaches one process", () => {
    const limits = processLimits(project({burst: 100, requests_per_second: 50}), 16).config.serving
    expect(limits.auth.rate_limit).toEqual({burst: 100, requests_per_second: 50})
    expect(processLimits(project({requests_per_second: 50}), 16).config.serving.auth.rate_limit).toEqual({
      requests_per_second: 50,
    })
  })

  it('shares max_queue out among the processes: each protects its own event loop', () => {
    expect(processLimits(project(), 16).config.serving).toEqual({auth: {}, max_queue: 16})
    expect(processLimits(project(), 3).config.serving.max_queue).toBe(86)
  })
})

describe('measureRowCost', () => {
  it('takes the median of the timed runs after an untimed first one, per row', async () => {
    const durations = [100, 3, 5, 4, 90, 4]
    let clock = 0
    let call = 0
    const run = () => {
      clock += durations[call++] ?? 4
      return Promise.resolve()
    }
    // Timed: 3, 5, 4, 90, 4 -> median 4, over 2 rows.
    expect(await measureRowCost(run, {now: () => clock, rows: 2, runs: 5})).toBe(2)
    expect(call).toBe(6)
  })

  it('stops once its time budget is spent', async () => {
    let clock = 0
    let calls = 0
    const run = () => {
      calls++
      clock += 10
      return Promise.resolve()
    }
    expect(await measureRowCost(run, {budgetMs: 30, now: () => clock, rows: 1, runs: 100})).toBe(10)
    expect(calls).toBe(4)
  })
})
