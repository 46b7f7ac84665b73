import {AggregatorRegistry} from 'prom-client'
import {describe, expect, it} from 'vitest'

import {createServingMetrics} from './metrics.js'

describe('createServingMetrics across the processes of a cluster', () => {
  it('averages the drift PSI of the processes (each sees a part of the traffic), where a maximum would inflate it', async () => {
    const processes = [0.1, 0.3, 0.05, 0.15].map((psi) => {
      const metrics = createServingMetrics({processMetrics: false})
      metrics.featureDrift.set({feature: 'x0', kind: 'input', tensor: 'input', variant: ''}, psi)
      return metrics
    })
    const aggregated = AggregatorRegistry.aggregate(await Promise.all(processes.map((metrics) => metrics.snapshot())))
    const drift = await aggregated.getSingleMetric('mlship_feature_drift_psi')!.get()
    expect(drift.values).toHaveLength(1)
    expect(drift.values[0]!.value).toBeCloseTo(0.15)
  })
})
