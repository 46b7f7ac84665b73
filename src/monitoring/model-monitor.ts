import type {MonitoringConfig} from '../config/schema.js'
import {type DriftEvent, DriftMonitor} from './drift.js'
import type {ServingMetrics} from './metrics.js'
import {isFloatType, rowLayout, type TensorLike, type TensorMap, toNumber} from './tensor.js'

export interface MonitoredOutput {
  name: string
  dtype: string
  labels?: readonly string[]
}

export interface ModelMonitorLogger {
  warn(fields: object, message: string): void
  info(fields: object, message: string): void
}

export interface ModelMonitorOptions {
  metrics: ServingMetrics
  outputs: readonly MonitoredOutput[]
  monitoring: MonitoringConfig
  logger?: ModelMonitorLogger
}

// An integer or string output with more distinct values than this is not a class label: stop adding series.
const MAX_CLASSES = 100

/**
 * Model metrics, fed with every prediction served: the distribution of predictions (per class for classifiers, a
 * histogram for regression outputs), non-finite outputs, and per-feature drift against the model.yaml baseline, with
 * a warning log line when a feature crosses `monitoring.drift.threshold`.
 */
export class ModelMonitor {
  readonly drift: DriftMonitor | undefined
  private readonly classesSeen = new Map<string, Set<string>>()

  constructor(private readonly options: ModelMonitorOptions) {
    const {baseline, drift} = options.monitoring
    if (baseline && (baseline.features.length > 0 || (baseline.outputs?.length ?? 0) > 0)) {
      this.drift = new DriftMonitor({
        inputs: baseline.features,
        onEvent: (event) => this.logDrift(event),
        outputs: baseline.outputs ?? [],
        threshold: drift.threshold,
        window: drift.window,
      })
      options.metrics.onScrape(() => this.refreshDrift())
    }
  }

  observe(inputs: TensorMap, outputs: TensorMap): void {
    for (const spec of this.options.outputs) {
      const tensor = outputs[spec.name]
      if (tensor) this.observeOutput(spec, tensor)
    }
    this.drift?.observe(inputs, outputs)
  }

  private observeOutput(spec: MonitoredOutput, tensor: TensorLike): void {
    const {metrics} = this.options
    const {rows, rowSize} = rowLayout(tensor)
    const data = tensor.data
    if (isFloatType(tensor.dtype)) {
      let nonFinite = 0
      for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) nonFinite++
      if (nonFinite > 0) metrics.nonFiniteOutputs.inc({output: spec.name}, nonFinite)
    }

    if (spec.labels && rowSize === spec.labels.length && rowSize > 1) {
      // Scores per class: the prediction is the argmax.
      for (let row = 0; row < rows; row++) {
        const offset = row * rowSize
        let best = 0
        for (let i = 1; i < rowSize; i++) if (toNumber(data[offset + i]) > toNumber(data[offset + best])) best = i
        metrics.predictions.inc({class: spec.labels[best]!, output: spec.name})
      }
      return
    }
    if (rowSize !== 1) return // vectors without labels (embeddings, multi-target): no per-row class or value
    if (isFloatType(tensor.dtype)) {
      for (let row = 0; row < rows; row++) {
        const value = data[row] as number
        if (Number.isFinite(value)) metrics.predictionValues.observe({output: spec.name}, value)
      }
      return
    }
    // An integer, boolean or string label per row (scikit-learn classifiers export one).
    for (let row = 0; row < rows; row++) {
      const raw = data[row]
      const index = typeof raw === 'bigint' || typeof raw === 'number' ? Number(raw) : undefined
      const value = index !== undefined && spec.labels?.[index] !== undefined ? spec.labels[index] : String(raw)
      metrics.predictions.inc({class: this.boundedClass(spec.name, value), output: spec.name})
    }
  }

  private boundedClass(output: string, value: string): string {
    let seen = this.classesSeen.get(output)
    if (!seen) this.classesSeen.set(output, (seen = new Set()))
    if (seen.has(value)) return value
    if (seen.size >= MAX_CLASSES) return 'other'
    seen.add(value)
    return value
  }

  private refreshDrift(): void {
    if (!this.drift) return
    const gauge = this.options.metrics.featureDrift
    for (const score of this.drift.scores()) {
      if (score.psi !== null) gauge.set({feature: score.name, kind: score.kind, tensor: score.tensor}, score.psi)
    }
  }

  private logDrift(event: DriftEvent): void {
    const fields = {
      drift: {
        feature: event.name,
        kind: event.kind,
        psi: round(event.psi),
        rows: event.rows,
        tensor: event.tensor,
        threshold: event.threshold,
      },
    }
    const where = `${event.kind} ${event.tensor}[${event.name}]`
    if (event.state === 'drift') {
      this.options.logger?.warn(
        fields,
        `drift: ${where} has a population stability index of ${round(event.psi)} over the last ${event.rows} rows, above ${event.threshold}`,
      )
    } else {
      this.options.logger?.info(fields, `drift: ${where} is back under ${event.threshold} (PSI ${round(event.psi)})`)
    }
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000
}
