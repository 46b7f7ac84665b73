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
