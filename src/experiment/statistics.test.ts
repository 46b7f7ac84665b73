import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {
  chiSquaredGoodnessOfFit,
  type MeanSample,
  meanInterval,
  meanSampleSize,
  proportionSampleSize,
  twoProportionTest,
  welchTest,
  wilsonInterval,
} from './statistics.js'

/** Computed once by statsmodels and scipy (test-support/reference-statistics.py), not by the code under test. */
interface Reference {
  proportions: Array<{
    control: {successes: number; n: number}
    treatment: {successes: number; n: number}
    control_wilson: [number, number]
    treatment_wilson: [number, number]
    z: number
    p_value: number
    difference_interval: [number, number]
  }>
  means: Array<{
    control: number[]
    treatment: number[]
    control_interval: [number, number]
    treatment_interval: [number, number]
    t: number
    p_value: number
    scipy_t: number
    scipy_p_value: number
    degrees_of_freedom: number
    difference_interval: [number, number]
  }>
  sample_sizes: Array<{
    kind: 'proportion' | 'mean'
    baseline: number
    mde: number
    alpha: number
    power: number
    ratio: number
    control: number
    treatment: number
  }>
  chi_squared: Array<{observed: number[]; shares: number[]; statistic: number; p_value: number}>
}

const reference = JSON.parse(
  readFileSync(path.join(import.meta.dirname, 'test-support', 'reference-statistics.json'), 'utf8'),
) as Reference

function summarise(values: number[]): MeanSample {
  const mean = values.reduce((s, v) => s + v, 0) / values.length
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1)
  return {mean, n: values.length, variance}
}

// Relative agreement to 1e-7 (p-values near 1e-3 to 0.8, intervals of rates and means).
const close = (actual: number, expected: number) => expect(actual).toBeCloseTo(expected, 7)

describe('proportions against statsmodels', () => {
  it.each(reference.proportions.map((c, i) => [i, c] as const))('case %i', (_, c) => {
    const control = wilsonInterval(c.control)
    close(control.low, c.control_wilson[0])
    close(control.high, c.control_wilson[1])
    const treatment = wilsonInterval(c.treatment)
    close(treatment.low, c.treatment_wilson[0])
    close(treatment.high, c.treatment_wilson[1])

    const test = twoProportionTest(c.control, c.treatment)
    close(test.statistic, c.z)
    close(test.pValue, c.p_value)
    close(test.interval.low, c.difference_interval[0])
    close(test.interval.high, c.difference_interval[1])
  })
})

describe("Welch's t-test against statsmodels and scipy", () => {
  it.each(reference.means.map((c, i) => [i, c] as const))('case %i', (_, c) => {
    const control = summarise(c.control)
    const treatment = summarise(c.treatment)
    const test = welchTest(control, treatment)
    close(test.statistic, c.t)
    close(test.statistic, c.scipy_t)
    close(test.pValue, c.p_value)
    close(test.pValue, c.scipy_p_value)
    close(test.degreesOfFreedom!, c.degrees_of_freedom)
    close(test.interval.low, c.difference_interval[0])
    close(test.interval.high, c.difference_interval[1])

    const controlInterval = meanInterval(control)
    close(controlInterval.low, c.control_interval[0])
    close(controlInterval.high, c.control_interval[1])
    const treatmentInterval = meanInterval(treatment)
    close(treatmentInterval.low, c.treatment_interval[0])
    close(treatmentInterval.high, c.treatment_interval[1])
  })
})

describe("sample sizes against statsmodels' NormalIndPower", () => {
  it.each(reference.sample_sizes.map((c, i) => [i, c] as const))('case %i', (_, c) => {
    const options = {alpha: c.alpha, power: c.power, ratio: c.ratio}
    const size =
      c.kind === 'proportion'
        ? proportionSampleSize(c.baseline, c.mde, options)
        : meanSampleSize(c.baseline, c.mde, options)
    expect(size.control).toBe(Math.ceil(c.control))
    expect(size.treatment).toBe(Math.ceil(c.treatment))
  })
})

describe("the sample ratio check against scipy's chisquare", () => {
  it.each(reference.chi_squared.map((c, i) => [i, c] as const))('case %i', (_, c) => {
    const test = chiSquaredGoodnessOfFit(c.observed, c.shares)
    close(test.statistic, c.statistic)
    // p-values far below 1e-7 are compared by order of magnitude.
    if (c.p_value > 1e-7) close(test.pValue, c.p_value)
    else expect(test.pValue).toBeLessThan(1e-6)
  })
})

describe('edge cases', () => {
  it('no variation in either arm is no evidence of a difference', () => {
    expect(twoProportionTest({n: 40, successes: 0}, {n: 40, successes: 0}).pValue).toBe(1)
    expect(welchTest({mean: 1, n: 5, variance: 0}, {mean: 1, n: 5, variance: 0}).pValue).toBe(1)
  })

  it('a Wilson interval of nothing is the whole range', () => {
    expect(wilsonInterval({n: 0, successes: 0})).toEqual({high: 1, low: 0})
  })
})
