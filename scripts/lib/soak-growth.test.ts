import {describe, expect, it} from 'vitest'

import {median, windowGrowth} from './soak-growth.js'

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

describe('median', () => {
  it('takes the middle, or the mean of the two middles', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 2, 3])).toBe(2.5)
  })
})
