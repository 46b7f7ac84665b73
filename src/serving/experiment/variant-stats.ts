import * as hdr from 'hdr-histogram-js'

import {type OutcomeSummary, RunningSummary, type VariantSnapshot} from '../../experiment/snapshot.js'
import type {RowPredictions} from './predictions.js'

// A classifier with more classes than this is counted as "other" past them: the snapshot stays small.
const MAX_CLASSES = 100

export interface VariantDescription {
  name: string
  model: string
  modelVersion: string
  weight: number
  shadow: boolean
}

/** Microsecond latencies (and millionths of absolute differences), 3 significant digits, as bench records them. */
function histogram(): hdr.Histogram {
  return hdr.build({
    autoResize: true,
    bitBucketSize: 32,
    highestTrackableValue: 3_600_000_000,
    lowestDiscernibleValue: 1,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  })
}

/**
 * What one variant did since the server started: the split (requests it answered), its errors and latencies, what it
 * predicted, the outcomes joined to its predictions and, for a shadow, how its copies went and how often it agreed.
 * `snapshot()` is its part of `GET /experiment`.
 */
export class VariantStats {
  requests = 0
  forced = 0
  errors = 0
  clientErrors = 0
  private readonly latency = histogram()
  private predictedRows = 0
  private readonly classes = new Map<string, number>()
  private readonly values = new RunningSummary()
  private valueMin = Number.POSITIVE_INFINITY
  private valueMax = Number.NEGATIVE_INFINITY
  readonly outcomes = new RunningSummary()
  readonly copies = {compared: 0, completed: 0, failed: 0, shed: 0}
  private agreeing: number | undefined
  private absDifference: hdr.Histogram | undefined

  constructor(readonly description: VariantDescription) {}

  /** An answer of an experiment request (forced ones are counted apart), with its status and latency. */
  answered(status: number, latencyMs: number, forced: boolean): void {
    if (forced) this.forced++
    else this.requests++
    if (status >= 500) this.errors++
    else if (status >= 400) this.clientErrors++
    this.recordLatency(latencyMs)
  }

  recordLatency(latencyMs: number): void {
    this.latency.recordValue(Math.max(1, Math.round(latencyMs * 1000)))
  }

  predicted(predictions: RowPredictions): void {
    this.predictedRows += predictions.rows.length
    if (predictions.kind === 'class') {
      for (const klass of predictions.rows) {
        const key = this.classes.has(klass) || this.classes.size < MAX_CLASSES ? klass : 'other'
        this.classes.set(key, (this.classes.get(key) ?? 0) + 1)
      }
      return
    }
    for (const value of predictions.rows) {
      if (!Number.isFinite(value)) continue
      this.values.add(value)
      if (value < this.valueMin) this.valueMin = value
      if (value > this.valueMax) this.valueMax = value
    }
  }

  /**
   * A shadow's rows compared with the answer's: how many rows, and of them how many predicted the same class
   * (classifiers), or the absolute differences (regression).
   */
  compared(shadow: RowPredictions, answer: RowPredictions): {rows: number; agreeing?: number; differences?: number[]} {
    const rows = Math.min(shadow.rows.length, answer.rows.length)
    this.copies.compared += rows
    if (shadow.kind === 'class' && answer.kind === 'class') {
      let agreeing = 0
      for (let row = 0; row < rows; row++) if (shadow.rows[row] === answer.rows[row]) agreeing++
      this.agreeing = (this.agreeing ?? 0) + agreeing
      return {agreeing, rows}
    }
    if (shadow.kind === 'value' && answer.kind === 'value') {
      this.absDifference ??= histogram()
      const differences: number[] = []
      for (let row = 0; row < rows; row++) {
        const difference = Math.abs(shadow.rows[row]! - answer.rows[row]!)
        if (!Number.isFinite(difference)) continue
        differences.push(difference)
        this.absDifference.recordValue(Math.max(1, Math.round(difference * 1e6)))
      }
      return {differences, rows}
    }
    return {rows}
  }

  snapshot(): VariantSnapshot {
    const {description} = this
    const classes = this.classes.size > 0 ? Object.fromEntries(this.classes) : undefined
    const values: (OutcomeSummary & {min: number; max: number}) | undefined =
      this.values.count > 0 ? {...this.values.toJSON(), max: this.valueMax, min: this.valueMin} : undefined
    return {
      client_errors: this.clientErrors,
      errors: this.errors,
      forced: this.forced,
      latency_us_hdr: hdr.encodeIntoCompressedBase64(this.latency),
      model: description.model,
      model_version: description.modelVersion,
      name: description.name,
      predictions: {rows: this.predictedRows, ...(classes ? {classes} : {}), ...(values ? {values} : {})},
      requests: this.requests,
      shadow: description.shadow,
      weight: description.weight,
      ...(description.shadow
        ? {
            copies: {
              compared_rows: this.copies.compared,
              completed: this.copies.completed,
              failed: this.copies.failed,
              shed: this.copies.shed,
              ...(this.agreeing === undefined ? {} : {agreeing_rows: this.agreeing}),
              ...(this.absDifference ? {abs_difference_hdr: hdr.encodeIntoCompressedBase64(this.absDifference)} : {}),
            },
          }
        : {}),
      ...(this.outcomes.count > 0 ? {outcomes: this.outcomes.toJSON()} : {}),
    }
  }
}
