import {readFileSync} from 'node:fs'
import path from 'node:path'
import * as hdr from 'hdr-histogram-js'
import {describe, expect, it} from 'vitest'

import {analyseExperiment, mergeSnapshots} from './analysis.js'
import {renderExperimentReport} from './report-text.js'
import {type ExperimentSnapshot, RunningSummary, type VariantSnapshot} from './snapshot.js'

/** The statsmodels and scipy values of test-support/reference-statistics.py (not computed by the code under test). */
const reference = JSON.parse(
  readFileSync(path.join(import.meta.dirname, 'test-support', 'reference-statistics.json'), 'utf8'),
) as {
  proportions: Array<{
    p_value: number
    z: number
    difference_interval: [number, number]
    control_wilson: [number, number]
  }>
  means: Array<{control: number[]; treatment: number[]; p_value: number; difference_interval: [number, number]}>
  sample_sizes: Array<{control: number; treatment: number}>
}

function latencies(values: number[]): string {
  const histogram = hdr.build({bitBucketSize: 32, numberOfSignificantValueDigits: 3, useWebAssembly: false})
  for (const ms of values) histogram.recordValue(Math.round(ms * 1000))
  return hdr.encodeIntoCompressedBase64(histogram)
}

function summary(values: number[]) {
  const s = new RunningSummary()
  for (const v of values) s.add(v)
  return s.toJSON()
}

const binary = (successes: number, n: number) => summary(Array.from({length: n}, (_, i) => (i < successes ? 1 : 0)))

function variant(name: string, weight: number, fields: Partial<VariantSnapshot> = {}): VariantSnapshot {
  return {
    client_errors: 0,
    errors: 0,
    forced: 0,
    latency_us_hdr: latencies([1, 2, 3, 4, 5]),
    model: name === 'control' ? '.' : `../${name}`,
    model_version: name === 'control' ? '1.0.0' : '2.0.0',
    name,
    predictions: {classes: {a: 3, b: 1}, rows: 4},
    requests: 1000,
    shadow: false,
    weight,
    ...fields,
  }
}

function snapshot(variants: VariantSnapshot[], fields: Partial<ExperimentSnapshot> = {}): ExperimentSnapshot {
  return {
    alpha: 0.05,
    control: 'control',
    experiment: 'test',
    outcome: {goal: 'maximize', type: 'binary'},
    power: 0.8,
    started_at: '2026-01-01T00:00:00.000Z',
    uptime_seconds: 3600,
    variants,
    ...fields,
  }
}

describe('analyseExperiment', () => {
  it('compares rates with the two-proportion z-test statsmodels computes, and says which is better', () => {
    const expected = reference.proportions[0]!
    const report = analyseExperiment(
      snapshot([
        variant('control', 50, {outcomes: binary(200, 2000), requests: 2000}),
        variant('candidate', 50, {outcomes: binary(260, 2000), requests: 2000}),
      ]),
    )
    const [comparison] = report.comparisons
    expect(comparison!.p_value).toBeCloseTo(expected.p_value, 9)
    expect(comparison!.difference).toBeCloseTo(0.03, 12)
    expect(comparison!.interval!.low).toBeCloseTo(expected.difference_interval[0], 9)
    expect(comparison!.interval!.high).toBeCloseTo(expected.difference_interval[1], 9)
    expect(comparison).toMatchObject({better: true, significant: true})
    const control = report.variants[0]!.outcome!
    expect(control.interval!.low).toBeCloseTo(expected.control_wilson[0], 9)
    expect(report.verdict).toBe(
      'candidate is better than control with p = 0.003: rate 13.0% for candidate against 10.0% for control (+3.0 points, 95% CI +1.0 to +5.0)',
    )
  })

  it('calls the same difference worse when the goal is to minimise', () => {
    const report = analyseExperiment(
      snapshot(
        [
          variant('control', 50, {outcomes: binary(200, 2000), requests: 2000}),
          variant('candidate', 50, {outcomes: binary(260, 2000), requests: 2000}),
        ],
        {outcome: {goal: 'minimize', type: 'binary'}},
      ),
    )
    expect(report.comparisons[0]).toMatchObject({better: false, significant: true})
    expect(report.verdict).toMatch(/^candidate is worse than control with p = 0\.003/)
  })

  it("compares means with Welch's t-test as scipy does", () => {
    const expected = reference.means[0]!
    const report = analyseExperiment(
      snapshot(
        [
          variant('control', 50, {outcomes: summary(expected.control), requests: expected.control.length}),
          variant('candidate', 50, {outcomes: summary(expected.treatment), requests: expected.treatment.length}),
        ],
        {outcome: {goal: 'maximize', type: 'number'}},
      ),
    )
    const [comparison] = report.comparisons
    expect(comparison!.kind).toBe('mean')
    expect(comparison!.p_value).toBeCloseTo(expected.p_value, 8)
    expect(comparison!.interval!.low).toBeCloseTo(expected.difference_interval[0], 8)
    expect(comparison!.interval!.high).toBeCloseTo(expected.difference_interval[1], 8)
  })

  it('says how many more outcomes the minimum detectable effect needs, as statsmodels sizes it', () => {
    // Control at 10% with a 90/10 split: statsmodels' NormalIndPower asks 19,173 control and 2,131 candidate outcomes.
    const expected = reference.sample_sizes[1]!
    const report = analyseExperiment(
      snapshot(
        [
          variant('control', 90, {outcomes: binary(100, 1000), requests: 9000}),
          variant('candidate', 10, {outcomes: binary(12, 110), requests: 1000}),
        ],
        {minimum_detectable_effect: 0.02},
      ),
    )
    const [comparison] = report.comparisons
    expect(comparison!.needed).toEqual({
      control: Math.ceil(expected.control),
      more_control: Math.ceil(expected.control) - 1000,
      more_variant: Math.ceil(expected.treatment) - 110,
      variant: Math.ceil(expected.treatment),
    })
    expect(comparison!.significant).toBe(false)
    expect(comparison!.verdict).toMatch(
      /^not enough data yet: no significant difference \(p = 0\.\d\d\); about 2,021 more outcomes for candidate and 18,173 for control are needed to detect a difference of 2\.0 points/,
    )
  })

  it('says there is not enough data below 30 outcomes an arm, whatever the p-value', () => {
    const report = analyseExperiment(
      snapshot([
        variant('control', 50, {outcomes: binary(0, 29)}),
        variant('candidate', 50, {outcomes: binary(29, 29)}),
      ]),
    )
    expect(report.verdict).toBe(
      'not enough data yet: candidate has 29 outcomes and control 29; at least 30 each are needed before a comparison means anything',
    )
  })

  it('flags a split that does not match the weights', () => {
    const report = analyseExperiment(
      snapshot([variant('control', 90, {requests: 8700}), variant('candidate', 10, {requests: 1300})]),
    )
    expect(report.sample_ratio).toMatchObject({mismatch: true, observed: {candidate: 13, control: 87}})
    expect(report.verdict).toMatch(/^the split does not match the weights \(control 87%, candidate 13%; p < 0\.001\)/)
    const fine = analyseExperiment(
      snapshot([variant('control', 90, {requests: 9050}), variant('candidate', 10, {requests: 950})]),
    )
    expect(fine.sample_ratio!.mismatch).toBe(false)
  })

  it('reports shadow agreement with its interval, and warns of a variant that fails more often', () => {
    const report = analyseExperiment(
      snapshot(
        [
          variant('control', 90, {errors: 1, requests: 9000}),
          variant('candidate', 10, {errors: 30, requests: 1000}),
          variant('quantised', 0, {
            copies: {agreeing_rows: 990, compared_rows: 1000, completed: 1000, failed: 0, shed: 20},
            requests: 0,
            shadow: true,
          }),
        ],
        {outcome: undefined},
      ),
    )
    const shadow = report.variants[2]!.copies!
    expect(shadow.agreement).toBe(0.99)
    expect(shadow.agreement_interval!.low).toBeGreaterThan(0.98)
    expect(report.comparisons).toEqual([])
    expect(report.verdict).toMatch(/^no outcome is configured/)
    const withOutcome = analyseExperiment(
      snapshot([
        variant('control', 90, {errors: 1, outcomes: binary(50, 500), requests: 9000}),
        variant('candidate', 10, {errors: 30, outcomes: binary(5, 50), requests: 1000}),
      ]),
    )
    expect(withOutcome.comparisons[0]!.warnings[0]).toMatch(
      /^candidate fails more often: 3\.00% of its answers are errors against 0\.01% \(p < 0\.001\)/,
    )
  })

  it('holds each of several comparisons to alpha divided by their number', () => {
    const report = analyseExperiment(
      snapshot([
        variant('control', 50, {outcomes: binary(200, 2000)}),
        variant('b', 25, {outcomes: binary(230, 2000)}),
        variant('c', 25, {outcomes: binary(200, 2000)}),
      ]),
    )
    expect(report.comparison_alpha).toBe(0.025)
    expect(report.comparisons.map((c) => c.variant)).toEqual(['b', 'c'])
  })
})

describe('mergeSnapshots', () => {
  it('adds up replicas exactly: counts, latencies and outcome summaries', () => {
    const outcomes = Array.from({length: 200}, (_, i) => Math.sin(i) * 10 + i / 7)
    const whole = variant('control', 100, {
      latency_us_hdr: latencies([1, 2, 3, 4, 5, 6]),
      outcomes: summary(outcomes),
      requests: 200,
    })
    const a = variant('control', 100, {
      latency_us_hdr: latencies([1, 2, 3]),
      outcomes: summary(outcomes.slice(0, 70)),
      requests: 70,
    })
    const b = variant('control', 100, {
      latency_us_hdr: latencies([4, 5, 6]),
      outcomes: summary(outcomes.slice(70)),
      requests: 130,
    })
    const merged = mergeSnapshots([snapshot([a]), snapshot([b])]).variants[0]!
    expect(merged.requests).toBe(200)
    expect(merged.outcomes!.count).toBe(200)
    expect(merged.outcomes!.mean).toBeCloseTo(whole.outcomes!.mean, 12)
    expect(merged.outcomes!.m2).toBeCloseTo(whole.outcomes!.m2, 8)
    expect(merged.predictions.classes).toEqual({a: 6, b: 2})
    const latency = hdr.decodeFromCompressedBase64(merged.latency_us_hdr, 32, false)
    expect(latency.totalCount).toBe(6)
    expect(() => mergeSnapshots([snapshot([a]), snapshot([b], {experiment: 'other'})])).toThrow(/different experiments/)
  })
})

describe('renderExperimentReport', () => {
  it('shows the variants, the comparison and the verdict', () => {
    const text = renderExperimentReport(
      analyseExperiment(
        snapshot([
          variant('control', 50, {outcomes: binary(200, 2000), requests: 2000}),
          variant('candidate', 50, {outcomes: binary(260, 2000), requests: 2000}),
        ]),
        ['http://127.0.0.1:8080'],
      ),
    )
    expect(text).toContain('Experiment test: control control, binary outcome (maximize); 1 server, up 60 min')
    expect(text).toMatch(
      /candidate\s+2\.0\.0\s+50%\s+2,000\s+50\.0%\s+0\.0%\s+3\s+5\s+13\.0% \(11\.6% to 14\.5%\), n 2,000/,
    )
    expect(text).toContain('Verdict: candidate is better than control with p = 0.003')
  })
})
