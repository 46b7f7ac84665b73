import {describe, expect, it} from 'vitest'

import {median, soakVerdict, windowGrowth} from './soak-growth.js'

/** One point every 2 s from 0 to 120 s, the value given by `at`. */
function series(at: (tMs: number) => number) {
  return Array.from({length: 61}, (_, index) => ({tMs: index * 2000, value: at(index * 2000)}))
}

const quick = {endMs: 120_000, fromMs: 30_000, limitPercent: 5, windows: 3}

describe('windowGrowth', () => {
  it('passes the CI run that failed: one 9 MB step at 64 s, then flat (+8.6% first to last minute)', () => {
    const growth = windowGrowth(
      series((t) => (t < 64_000 ? 157e6 : 170e6)),
      quick,
    )
    expect(growth.totalPercent).toBeGreaterThan(5)
    expect(growth.sustained).toBe(false)
    expect(growth.leaking).toBe(false)
  })

  it('fails a leak that goes on: 10% a minute', () => {
    const growth = windowGrowth(
      series((t) => 150e6 * (1 + (0.1 * t) / 60_000)),
      quick,
    )
    expect(growth.sustained).toBe(true)
    expect(growth.leaking).toBe(true)
    expect(growth.stepsPercent.every((step) => step > 2)).toBe(true)
  })

  it('passes slow growth under the limit', () => {
    expect(
      windowGrowth(
        series((t) => 150e6 * (1 + (0.01 * t) / 60_000)),
        quick,
      ).leaking,
    ).toBe(false)
  })

  it('fails a step above three times the limit even when it does not go on', () => {
    const growth = windowGrowth(
      series((t) => (t < 64_000 ? 150e6 : 180e6)),
      quick,
    )
    expect(growth.sustained).toBe(false)
    expect(growth.leaking).toBe(true)
  })

  it('does not call a shrinking series a leak, and takes medians so one GC spike does not decide', () => {
    expect(
      windowGrowth(
        series((t) => 200e6 - t * 100),
        quick,
      ).leaking,
    ).toBe(false)
    const spiky = series((t) => (t % 10_000 === 0 ? 400e6 : 150e6))
    expect(windowGrowth(spiky, quick).medians).toEqual([150e6, 150e6, 150e6])
  })

  it('says which window had no sample', () => {
    expect(() => windowGrowth([{tMs: 0, value: 1}], quick)).toThrow(/no sample between 30.0 s and 60.0 s/)
  })
})

describe('soakVerdict', () => {
  // The samples of the CI run that failed (2 min at 800 req/s, one every 2 s): minutes, RSS MB, heap in use MB.
  const failedInCi = (
    '0.0 359.6 59.6;0.1 363.5 57.8;0.1 364.5 63.0;0.1 366.3 61.6;0.2 365.8 61.3;0.2 367.3 64.5;0.2 369.5 64.1;' +
    '0.3 369.8 69.6;0.3 370.9 63.8;0.3 372.2 56.3;0.4 371.4 55.7;0.4 371.5 55.8;0.4 372.5 62.7;0.5 371.6 62.3;' +
    '0.5 373.1 62.2;0.5 374.3 62.3;0.6 378.9 55.9;0.6 379.0 55.4;0.6 380.2 61.6;0.7 379.4 61.5;0.7 375.9 57.4;' +
    '0.7 377.0 57.1;0.8 377.2 63.6;0.8 376.5 63.1;0.8 377.6 62.9;0.9 376.8 62.2;0.9 377.9 62.1;0.9 380.0 68.6;' +
    '1.0 379.9 59.2;1.0 380.0 58.8;1.0 381.1 58.8;1.1 380.5 64.9;1.1 380.7 71.1;1.1 382.0 70.2;1.2 381.3 70.2;' +
    '1.2 381.5 69.9;1.2 382.6 69.6;1.3 381.0 60.6;1.3 381.2 67.0;1.3 382.2 66.6;1.4 381.5 66.7;1.4 381.7 66.5;' +
    '1.4 382.8 66.4;1.5 382.8 72.7;1.5 382.8 72.6;1.5 384.1 63.6;1.6 383.3 69.9;1.6 383.5 69.7;1.6 384.6 69.4;' +
    '1.7 383.8 75.9;1.7 384.0 75.6;1.7 385.8 68.6;1.8 384.3 75.1;1.8 383.2 68.7;1.8 384.2 68.3;1.9 383.5 68.2;' +
    '1.9 383.7 74.5;1.9 384.6 65.9;2.0 383.8 66.0;2.0 383.9 66.0'
  )
    .split(';')
    // The log rounds minutes to one decimal; the first sample was taken at 2 s, the others 2 s apart.
    .map((line, index) => ({
      heap: Number(line.split(' ')[2]) * 1e6,
      rss: Number(line.split(' ')[1]) * 1e6,
      tMs: (index + 1) * 2000,
    }))
  const judged = (key: 'heap' | 'rss') =>
    windowGrowth(
      failedInCi.map((sample) => ({tMs: sample.tMs, value: sample[key]})),
      quick,
    )

  it('passes the quick CI run whose heap rose in every window before its first full collection (+11%)', () => {
    expect(judged('heap').leaking).toBe(true)
    expect(judged('rss').leaking).toBe(false)
    expect(soakVerdict(judged('rss'), judged('heap'), {quick: true})).toEqual({heapJudged: false, leaking: false})
  })

  it('judges the heap in the long run, and resident memory in both', () => {
    expect(soakVerdict(judged('rss'), judged('heap'), {quick: false})).toEqual({heapJudged: true, leaking: true})
    const leakingRss = windowGrowth(
      series((t) => 380e6 * (1 + (0.1 * t) / 60_000)),
      quick,
    )
    expect(soakVerdict(leakingRss, judged('heap'), {quick: true}).leaking).toBe(true)
  })
})

describe('median', () => {
  it('takes the middle, or the mean of the two middles', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 2, 3])).toBe(2.5)
  })
})
