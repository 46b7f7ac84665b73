import {describe, expect, it} from 'vitest'

import {niceRate, positionOf, rateAt, SLIDER_STEPS} from './client/rate-scale.js'

describe('the rate slider (logarithmic)', () => {
  it('runs from no load to the top rate, every rate a person would type', () => {
    expect(rateAt(0, 100_000)).toBe(0)
    expect(rateAt(1, 100_000)).toBe(1)
    expect(rateAt(SLIDER_STEPS, 100_000)).toBe(100_000)
    expect(rateAt(SLIDER_STEPS / 2, 100_000)).toBe(315)
    expect(niceRate(1234)).toBe(1250)
    expect(niceRate(187)).toBe(185)
    expect(niceRate(42.4)).toBe(42)
  })

  it('grows monotonically, and a rate typed in the box puts the slider where it shows about that rate', () => {
    let previous = 0
    for (let position = 0; position <= SLIDER_STEPS; position++) {
      const rate = rateAt(position, 20_000)
      expect(rate).toBeGreaterThanOrEqual(previous)
      previous = rate
    }
    for (const rate of [1, 5, 20, 200, 1850, 20_000]) {
      const shown = rateAt(positionOf(rate, 20_000), 20_000)
      expect(Math.abs(shown - rate) / rate).toBeLessThan(0.03)
    }
    expect(positionOf(0, 20_000)).toBe(0)
  })
})
