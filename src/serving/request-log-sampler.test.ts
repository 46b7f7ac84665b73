import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {RequestLogSampler, SAMPLING_WINDOW_MS} from './request-log-sampler.js'

describe('RequestLogSampler', () => {
  beforeEach(() => {
    vi.useFakeTimers({now: 1_000_000})
  })
  afterEach(() => {
    vi.useRealTimers()
  })
  const sampler = (perSecond: number | 'all') => {
    const summaries: Array<[number, number]> = []
    return {sampler: new RequestLogSampler({perSecond, summary: (n, budget) => summaries.push([n, budget])}), summaries}
  }
  const admitted = (s: RequestLogSampler, count: number) => {
    let yes = 0
    for (let i = 0; i < count; i++) if (s.admit()) yes++
    return yes
  }

  it('admits every line within the budget and writes no summary', () => {
    const {sampler: s, summaries} = sampler(5)
    expect(admitted(s, 5)).toBe(5)
    vi.advanceTimersByTime(SAMPLING_WINDOW_MS)
    expect(admitted(s, 5)).toBe(5)
    vi.advanceTimersByTime(5 * SAMPLING_WINDOW_MS)
    expect(summaries).toEqual([])
  })

  it('counts the lines past the budget and says how many once the second is over', () => {
    const {sampler: s, summaries} = sampler(5)
    expect(admitted(s, 12)).toBe(5)
    vi.advanceTimersByTime(SAMPLING_WINDOW_MS - 1)
    expect(summaries).toEqual([])
    vi.advanceTimersByTime(1)
    expect(summaries).toEqual([[7, 5]])
    // A new second has a new budget.
    expect(admitted(s, 6)).toBe(5)
    vi.advanceTimersByTime(SAMPLING_WINDOW_MS)
    expect(summaries).toEqual([
      [7, 5],
      [1, 5],
    ])
  })

  it('ends a window whose timer is late (a busy event loop) before counting the next request', () => {
    const {sampler: s, summaries} = sampler(2)
    expect(admitted(s, 3)).toBe(2)
    vi.setSystemTime(Date.now() + SAMPLING_WINDOW_MS + 10) // the clock moves, the timer has not run yet
    expect(s.admit()).toBe(true)
    expect(summaries).toEqual([[1, 2]])
    vi.advanceTimersByTime(5 * SAMPLING_WINDOW_MS)
    expect(summaries).toEqual([[1, 2]])
  })

  it('writes what is left at flush (the server closing), and nothing twice', () => {
    const {sampler: s, summaries} = sampler(1)
    admitted(s, 4)
    s.flush()
    expect(summaries).toEqual([[3, 1]])
    vi.advanceTimersByTime(SAMPLING_WINDOW_MS)
    expect(summaries).toEqual([[3, 1]])
  })

  it('"all" admits every line', () => {
    const {sampler: s, summaries} = sampler('all')
    expect(admitted(s, 10_000)).toBe(10_000)
    s.flush()
    expect(summaries).toEqual([])
  })
})
