import type {FeatureBaseline, MonitoringConfig} from '../config/schema.js'
import {type DriftEvent, DriftMonitor} from './drift.js'
import type {ServingMetrics} from './metrics.js'
import {counterSeries, type CounterSeries, histogramSeries, type HistogramSeries} from './series.js'
import {type ReferenceTensor, ReferenceWindow} from './reference-window.js'
import {isFloatType, rowLayout, type TensorLike, type TensorMap, toNumber} from './tensor.js'

export interface MonitoredOutput {
  name: string
  dtype: string
  labels?: readonly string[]
  /** Needed only for the reference window (monitoring.drift.reference_rows). */
  shape?: readonly (number | string)[]
}

export interface ModelMonitorLogger {
  warn(fields: object, message: string): void
  info(fields: object, message: string): void
}

export interface ModelMonitorOptions {
  metrics: ServingMetrics
  outputs: readonly MonitoredOutput[]
  /** The model's inputs: needed only for the reference window (monitoring.drift.reference_rows). */
  inputs?: readonly ReferenceTensor[]
  monitoring: MonitoringConfig
  logger?: ModelMonitorLogger
  /** The experiment variant this model is (model.yaml's `experiment:`): every series gets it as its `variant` label. */
  variant?: string
}

/** The histograms of one output, bound to its labels. */
interface OutputSeries {
  confidence: HistogramSeries
  margin: HistogramSeries
  values: HistogramSeries
}

// An integer or string output with more distinct values than this is not a class label: stop adding series.
const MAX_CLASSES = 100
// float32 softmax rows sum to 1 within about 1e-7 per class; logits and embeddings miss by far more.
const PROBABILITY_TOLERANCE = 1e-3

/**
 * Model metrics, fed with every prediction served: the distribution of predictions (per class for classifiers, a
 * histogram for regression outputs), the model's confidence (top probability and margin) where an output's rows are
 * probabilities, non-finite outputs, and per-feature drift against the model.yaml baseline, or without one, against
 * the first rows served (monitoring.drift.reference_rows, opt-in), with a warning log line when a feature crosses
 * `monitoring.drift.threshold`.
 */
export class ModelMonitor {
  private driftMonitor: DriftMonitor | undefined
  private reference: ReferenceWindow | undefined
  private readonly classesSeen = new Map<string, Set<string>>()
  private readonly variant: {variant?: string}
  // Series bound once (series.ts), not resolved for every row served (the values are bounded: outputs, MAX_CLASSES).
  private readonly outputSeries = new Map<string, OutputSeries>()
  private readonly classSeries = new Map<string, Map<string, CounterSeries>>()

  constructor(private readonly options: ModelMonitorOptions) {
    this.variant = options.variant === undefined ? {} : {variant: options.variant}
    const {baseline, drift} = options.monitoring
    if (baseline && (baseline.features.length > 0 || (baseline.outputs?.length ?? 0) > 0)) {
      this.startDrift(baseline.features, baseline.outputs ?? [])
    } else if (drift.reference_rows !== undefined) {
      const reference = new ReferenceWindow({
        inputs: options.inputs ?? [],
        outputs: options.outputs.map((o) => ({dtype: o.dtype, name: o.name, shape: o.shape ?? []})),
        rows: drift.reference_rows,
      })
      if (reference.watchable) this.reference = reference
      else
        options.logger?.warn(
          {drift: {skipped: reference.skipped}},
          'drift: monitoring.drift.reference_rows is set, but no input or output has features to watch',
        )
    }
  }

  get drift(): DriftMonitor | undefined {
    return this.driftMonitor
  }

  /** Rows still to collect before drift against the first rows served starts (0 when it runs, or is not asked for). */
  get referenceRowsMissing(): number {
    return this.reference ? Math.max(0, this.options.monitoring.drift.reference_rows! - this.reference.rows) : 0
  }

  observe(inputs: TensorMap, outputs: TensorMap): void {
    this.observeOutputs(outputs)
    if (this.reference) {
      if (this.reference.add(inputs, outputs)) this.referenceComplete(this.reference)
      return
    }
    this.driftMonitor?.observe(inputs, outputs)
  }

  /** The prediction distribution and non-finite outputs only (an experiment's shadow: its inputs are the primary's). */
  observeOutputs(outputs: TensorMap): void {
    for (const spec of this.options.outputs) {
      const tensor = outputs[spec.name]
      if (tensor) this.observeOutput(spec, tensor)
    }
  }

  private startDrift(inputs: readonly FeatureBaseline[], outputs: readonly FeatureBaseline[]): void {
    const {drift} = this.options.monitoring
    this.driftMonitor = new DriftMonitor({
      inputs,
      onEvent: (event) => this.logDrift(event),
      outputs,
      threshold: drift.threshold,
      window: drift.window,
    })
    this.options.metrics.onScrape(() => this.refreshDrift())
  }

  private referenceComplete(reference: ReferenceWindow): void {
    this.reference = undefined
    const {inputs, outputs} = reference.baseline()
    this.startDrift(inputs, outputs)
    this.options.logger?.info(
      {drift: {features: inputs.length + outputs.length, reference_rows: reference.rows, skipped: reference.skipped}},
      `drift: the first ${reference.rows} rows served are the reference now (no monitoring.baseline); drift of the rows that follow is measured against them`,
    )
  }

  private observeOutput(spec: MonitoredOutput, tensor: TensorLike): void {
    const {metrics} = this.options
    const {rows, rowSize} = rowLayout(tensor)
    const data = tensor.data
    const float = isFloatType(tensor.dtype)
    if (float) {
      let nonFinite = 0
      for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) nonFinite++
      if (nonFinite > 0) metrics.nonFiniteOutputs.inc({...this.variant, output: spec.name}, nonFinite)
    }

    const labelled = spec.labels !== undefined && rowSize === spec.labels.length
    if (rowSize > 1 && (labelled || float)) {
      // Scores per class: the prediction is the argmax, named by its label, or by its index where the output's rows
      // are probabilities without labels. Where a row is a probability distribution, the top probability and its
      // margin over the runner-up say how sure the model was.
      for (let row = 0; row < rows; row++) {
        const offset = row * rowSize
        let best = 0
        let second = -1
        let sum = 0
        let probabilities = true
        for (let i = 0; i < rowSize; i++) {
          const value = toNumber(data[offset + i])
          sum += value
          if (!(value >= -PROBABILITY_TOLERANCE && value <= 1 + PROBABILITY_TOLERANCE)) probabilities = false
          if (i === 0) continue
          if (value > toNumber(data[offset + best])) {
            second = best
            best = i
          } else if (second === -1 || value > toNumber(data[offset + second])) second = i
        }
        probabilities &&= Math.abs(sum - 1) <= PROBABILITY_TOLERANCE * rowSize
        if (!labelled && !probabilities) continue // not class scores (an embedding, several targets)
        const klass = labelled ? spec.labels![best]! : this.boundedClass(spec.name, String(best))
        this.seriesOfClass(spec.name, klass).inc()
        if (probabilities) {
          const top = toNumber(data[offset + best])
          const series = this.seriesOfOutput(spec.name)
          series.confidence.observe(top)
          series.margin.observe(top - toNumber(data[offset + second]))
        }
      }
      return
    }
    if (rowSize !== 1) return // vectors without labels (embeddings, multi-target): no per-row class or value
    if (float) {
      for (let row = 0; row < rows; row++) {
        const value = data[row] as number
        if (Number.isFinite(value)) this.seriesOfOutput(spec.name).values.observe(value)
      }
      return
    }
    // An integer, boolean or string label per row (scikit-learn classifiers export one).
    for (let row = 0; row < rows; row++) {
      const raw = data[row]
      const index = typeof raw === 'bigint' || typeof raw === 'number' ? Number(raw) : undefined
      const value = index !== undefined && spec.labels?.[index] !== undefined ? spec.labels[index] : String(raw)
      this.seriesOfClass(spec.name, this.boundedClass(spec.name, value)).inc()
    }
  }

  private seriesOfOutput(output: string): OutputSeries {
    let series = this.outputSeries.get(output)
    if (!series) {
      const {metrics} = this.options
      const labels = {...this.variant, output}
      series = {
        confidence: histogramSeries(metrics.predictionConfidence, labels),
        margin: histogramSeries(metrics.predictionMargin, labels),
        values: histogramSeries(metrics.predictionValues, labels),
      }
      this.outputSeries.set(output, series)
    }
    return series
  }

  private seriesOfClass(output: string, klass: string): CounterSeries {
    // By output, then class: no key made for every row served.
    let ofOutput = this.classSeries.get(output)
    if (!ofOutput) this.classSeries.set(output, (ofOutput = new Map<string, CounterSeries>()))
    let series = ofOutput.get(klass)
    if (!series)
      ofOutput.set(
        klass,
        (series = counterSeries(this.options.metrics.predictions, {...this.variant, class: klass, output})),
      )
    return series
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
    if (!this.driftMonitor) return
    const gauge = this.options.metrics.featureDrift
    for (const score of this.driftMonitor.scores()) {
      if (score.psi !== null)
        gauge.set({...this.variant, feature: score.name, kind: score.kind, tensor: score.tensor}, score.psi)
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
        ...this.variant,
      },
    }
    const where = `${this.options.variant === undefined ? '' : `variant ${this.options.variant}: `}${event.kind} ${event.tensor}[${event.name}]`
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
