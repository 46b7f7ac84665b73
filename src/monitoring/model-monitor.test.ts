import {describe, expect, it} from 'vitest'

import {monitoringSchema} from '../config/schema.js'
import {readSample as sample} from './test-support/exposition.js'
import {createServingMetrics} from './metrics.js'
import {ModelMonitor} from './model-monitor.js'

const monitoring = monitoringSchema.parse({
  baseline: {
    features: [
      {
        bin_edges: [0, 1, 2],
        bin_fractions: [0.5, 0.5],
        index: 0,
        input: 'x',
        max: 2,
        mean: 1,
        min: 0,
        name: 'age',
        std: 0.5,
      },
    ],
  },
  drift: {threshold: 0.2, window: 10},
})

describe('ModelMonitor', () => {
  it('counts predictions per class, observes regression values, counts non-finite outputs and exposes drift', async () => {
    const metrics = createServingMetrics({processMetrics: false})
    const warnings: string[] = []
    const monitor = new ModelMonitor({
      logger: {info: () => {}, warn: (_fields, message) => warnings.push(message)},
      metrics,
      monitoring,
      outputs: [
        {dtype: 'float32', labels: ['cat', 'dog'], name: 'probabilities'},
        {dtype: 'float32', name: 'price'},
        {dtype: 'int64', name: 'label'},
      ],
    })
    for (let i = 0; i < 20; i++) {
      monitor.observe(
        {x: {data: Float32Array.of(1.5, 1.7), dims: [2, 1], dtype: 'float32'}},
        {
          label: {data: BigInt64Array.of(1n, 0n), dims: [2], dtype: 'int64'},
          price: {data: Float32Array.of(0.3, Number.NaN), dims: [2, 1], dtype: 'float32'},
          probabilities: {data: Float32Array.of(0.2, 0.8, 0.9, 0.1), dims: [2, 2], dtype: 'float32'},
        },
      )
    }
    const text = await metrics.render()
    expect(sample(text, 'mlship_predictions_total', {class: 'dog', output: 'probabilities'})).toBe(20)
    expect(sample(text, 'mlship_predictions_total', {class: 'cat', output: 'probabilities'})).toBe(20)
    expect(sample(text, 'mlship_predictions_total', {class: '1', output: 'label'})).toBe(20)
    expect(sample(text, 'mlship_prediction_value_count', {output: 'price'})).toBe(20)
    expect(sample(text, 'mlship_prediction_value_bucket', {le: '0.25', output: 'price'})).toBe(0)
    expect(sample(text, 'mlship_prediction_value_bucket', {le: '0.5', output: 'price'})).toBe(20)
    expect(sample(text, 'mlship_nonfinite_outputs_total', {output: 'price'})).toBe(20)
    // Every value in the upper bin, against a 50/50 baseline.
    expect(sample(text, 'mlship_feature_drift_psi', {feature: 'age', kind: 'input', tensor: 'x'})).toBeGreaterThan(2)
    expect(warnings).toEqual([expect.stringMatching(/drift: input x\[age\] has a population stability index of \d/)])
  })
})

describe('ModelMonitor out of the box (no labels, no baseline)', () => {
  const plain = monitoringSchema.parse({})

  it('counts predictions of an unlabelled probability output by argmax index, with confidence and margin', async () => {
    const metrics = createServingMetrics({processMetrics: false})
    const monitor = new ModelMonitor({
      metrics,
      monitoring: plain,
      outputs: [
        {dtype: 'float32', name: 'probabilities'},
        {dtype: 'float32', name: 'embedding'},
      ],
    })
    monitor.observe(
      {},
      {
        // A hesitant row (0.5 vs 0.4) and a sure one (0.97).
        embedding: {data: Float32Array.of(3.2, -1, 7, 0.5, 0.5, 0.5), dims: [2, 3], dtype: 'float32'},
        probabilities: {data: Float32Array.of(0.4, 0.5, 0.1, 0.97, 0.02, 0.01), dims: [2, 3], dtype: 'float32'},
      },
    )
    const text = await metrics.render()
    expect(sample(text, 'mlship_predictions_total', {class: '1', output: 'probabilities'})).toBe(1)
    expect(sample(text, 'mlship_predictions_total', {class: '0', output: 'probabilities'})).toBe(1)
    expect(sample(text, 'mlship_prediction_confidence_count', {output: 'probabilities'})).toBe(2)
    expect(sample(text, 'mlship_prediction_confidence_bucket', {le: '0.5', output: 'probabilities'})).toBe(1)
    expect(sample(text, 'mlship_prediction_confidence_bucket', {le: '0.95', output: 'probabilities'})).toBe(1)
    expect(sample(text, 'mlship_prediction_margin_bucket', {le: '0.1', output: 'probabilities'})).toBe(1)
    expect(sample(text, 'mlship_prediction_margin_sum', {output: 'probabilities'})).toBeCloseTo(0.1 + 0.95, 5)
    // Rows that are not probabilities (an embedding) are no classes.
    expect(sample(text, 'mlship_predictions_total', {output: 'embedding'})).toBeUndefined()
    expect(sample(text, 'mlship_prediction_confidence_count', {output: 'embedding'})).toBeUndefined()
  })

  it('with monitoring.drift.reference_rows, measures drift against the first rows served', async () => {
    const metrics = createServingMetrics({processMetrics: false})
    const infos: string[] = []
    const warnings: string[] = []
    const monitor = new ModelMonitor({
      inputs: [{dtype: 'float32', name: 'x', shape: ['batch', 2]}],
      logger: {info: (_f, message) => infos.push(message), warn: (_f, message) => warnings.push(message)},
      metrics,
      monitoring: monitoringSchema.parse({drift: {reference_rows: 200, threshold: 0.2, window: 100}}),
      outputs: [{dtype: 'float32', name: 'y', shape: ['batch', 1]}],
    })
    // A fixed pseudo-random sequence: the same traffic every run.
    let seed = 7
    const random = () => (seed = (seed * 16_807) % 2_147_483_647) / 2_147_483_647
    const serve = (shift: number, rows: number) => {
      for (let i = 0; i < rows; i++) {
        const a = random() + shift
        monitor.observe(
          {x: {data: Float32Array.of(a, random()), dims: [1, 2], dtype: 'float32'}},
          {y: {data: Float32Array.of(a * 2), dims: [1, 1], dtype: 'float32'}},
        )
      }
    }
    serve(0, 199)
    expect(monitor.drift).toBeUndefined()
    expect(monitor.referenceRowsMissing).toBe(1)
    serve(0, 1)
    expect(monitor.drift?.featureCount).toBe(3)
    expect(infos).toEqual([expect.stringMatching(/^drift: the first 200 rows served are the reference now/)])
    serve(0, 100)
    const steady = await metrics.render()
    expect(sample(steady, 'mlship_feature_drift_psi', {feature: '0', kind: 'input', tensor: 'x'})).toBeLessThan(0.2)
    expect(warnings).toEqual([])
    // The first feature (and the output made from it) moves; the second does not.
    serve(0.5, 100)
    const shifted = await metrics.render()
    expect(sample(shifted, 'mlship_feature_drift_psi', {feature: '0', kind: 'input', tensor: 'x'})).toBeGreaterThan(1)
    expect(sample(shifted, 'mlship_feature_drift_psi', {feature: '1', kind: 'input', tensor: 'x'})).toBeLessThan(0.2)
    expect(sample(shifted, 'mlship_feature_drift_psi', {feature: '0', kind: 'output', tensor: 'y'})).toBeGreaterThan(1)
    expect(warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/^drift: input x\[0\] has a population stability index of/)]),
    )
  })
})
