import type {OutcomeType} from '../config/experiment.js'

/**
 * The wire format of `GET /experiment`: what one server counted since it started, per variant. It carries sums and
 * histograms, not conclusions, so that the snapshots of several replicas can be added up (`mlship experiment report
 * --url A --url B`) before the statistics are computed (report.ts).
 */
export interface ExperimentSnapshot {
  experiment: string
  /** When this server started counting (ISO 8601). */
  started_at: string
  uptime_seconds: number
  control: string
  sticky?: {header: string} | {field: string}
  outcome?: {type: OutcomeType; goal: 'maximize' | 'minimize'}
  minimum_detectable_effect?: number
  alpha: number
  power: number
  variants: VariantSnapshot[]
}

export interface VariantSnapshot {
  name: string
  /** model.yaml's `model` of the variant ("." for this model). */
  model: string
  model_version: string
  /** Percentage of the traffic it answers; 0 for a shadow. */
  weight: number
  shadow: boolean
  /** Experiment requests it answered (forced requests aside): the split. */
  requests: number
  /** Requests forced to it with X-Mlship-Variant (not part of the comparison). */
  forced: number
  /** Answers with a 5xx status (the server's or the model's failure: 503 and 504 included). */
  errors: number
  /** Answers with a 4xx status (a bad request is the client's, and the same whichever variant it met). */
  client_errors: number
  /** Latency of its answers (for a shadow: of its inferences), as a compressed base64 HdrHistogram in microseconds. */
  latency_us_hdr: string
  predictions: PredictionCounts
  /** What the shadow did with its copies of the traffic (shadows only). */
  copies?: ShadowCounts
  /** Outcomes reported by POST /feedback for predictions it made (shadows: label outcomes only, their accuracy). */
  outcomes?: OutcomeSummary
}

export interface PredictionCounts {
  /** Rows predicted. */
  rows: number
  /** Rows per predicted class (the argmax, by label), for classifiers. */
  classes?: Record<string, number>
  /** Predicted values of a regression output. */
  values?: OutcomeSummary & {min: number; max: number}
}

export interface ShadowCounts {
  /** Requests copied to the shadow. */
  completed: number
  /** Copies not made because the server was busy or the shadow's queue was full (shadows go first). */
  shed: number
  failed: number
  /** Rows compared with the variant that answered. */
  compared_rows: number
  /** Rows with the same argmax (classifiers). */
  agreeing_rows?: number
  /** |shadow - answer| of a regression output, as a compressed base64 HdrHistogram of millionths. */
  abs_difference_hdr?: string
}

/** A sample as count, mean and the sum of squared deviations (Welford), so that samples add up exactly. */
export interface OutcomeSummary {
  count: number
  mean: number
  /** Sum of squared deviations from the mean (the sample variance is m2 / (count - 1)). */
  m2: number
}

/** Welford's running mean and sum of squared deviations. */
export class RunningSummary implements OutcomeSummary {
  count = 0
  mean = 0
  m2 = 0

  add(value: number): void {
    this.count++
    const delta = value - this.mean
    this.mean += delta / this.count
    this.m2 += delta * (value - this.mean)
  }

  toJSON(): OutcomeSummary {
    return {count: this.count, m2: this.m2, mean: this.mean}
  }
}

/** Two summaries as one (Chan et al.'s parallel update). */
export function mergeSummaries(a: OutcomeSummary, b: OutcomeSummary): OutcomeSummary {
  const count = a.count + b.count
  if (count === 0) return {count: 0, m2: 0, mean: 0}
  const delta = b.mean - a.mean
  return {
    count,
    m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count,
    mean: a.mean + (delta * b.count) / count,
  }
}
