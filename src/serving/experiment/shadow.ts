import type {OutputSpec} from '../../config/schema.js'
import {QueueFullError} from '../admission.js'
import type {InferenceBackend} from '../backend.js'
import type {TensorMap} from '../tensors.js'
import type {ServedPrediction} from './feedback-store.js'
import type {ExperimentMetrics} from './metrics.js'
import {type RowPredictions, rowPredictions} from './predictions.js'
import type {ShadowBudget} from './shadow-budget.js'
import type {VariantStats} from './variant-stats.js'

export interface ShadowLaneOptions {
  name: string
  /**
   * The shadow's own workers (at nice 19, below the variants that answer), without an inference pipeline: a copy
   * costs the HTTP thread one message to a worker and one back, no batcher, cache, drift or prediction log (the
   * shadow's inputs are the primary's, whose drift is already watched).
   */
  backend: InferenceBackend
  /** The shadow's share of the spare CPU time (absent: only the in-flight rule applies). */
  budget?: ShadowBudget
  /** Told each copy's outputs (the shadow's prediction-distribution series). */
  onOutputs?: (outputs: TensorMap) => void
  /** The cores this process may use (usableCpus()): what the answering variants do not use is the shadow's. */
  cores: number
  /** A copy that takes longer is abandoned (failed). */
  timeoutMs: number
  stats: VariantStats
  /** The output the comparison reads (the primary's first). */
  output: OutputSpec
  metrics?: ExperimentMetrics
  now?: () => number
}

/** What the shadow rule looks at when a copy could be made of a request just answered. */
export interface AnsweringLoad {
  /** The answering variant's other requests in flight (queued or running), not counting the one answered. */
  inFlight: number
  /** Its inference workers: at its knee it keeps that many cores busy. */
  workers: number
}

/**
 * The shadow rule (issue 12: a shadow adds at most 10% to the primary's p99). Nice 19 alone does not hold it: on a
 * machine whose cores the answering variant fills at its knee, a shadow of the same cost still takes cache, memory
 * bandwidth and the HTTP thread's time, and a shadow batch that started on an idle core is in the way of the next
 * burst. So a copy is made only while the answering variant is idle (no other request of it in flight), and at most
 * one copy per core that variant's workers leave free (at least one: a shadow that never runs measures nothing) is in
 * flight. Everything else is shed and counted, so the report says how much of the traffic the shadow saw.
 */
export function shadowCopyAdmitted(answering: AnsweringLoad, shadowInFlight: number, cores: number): boolean {
  if (answering.inFlight > 0) return false
  return shadowInFlight < Math.max(1, cores - answering.workers)
}

/**
 * One shadow: it gets a copy of the traffic, after the answer has gone, at the lowest priority, and is the first thing
 * given up under load (shadowCopyAdmitted and the ShadowBudget say when a copy is made). Its inference threads run at
 * nice 19, so when the CPUs are contended the scheduler gives them what the answering variants leave. Its answers are
 * compared with the answer (same class, or the absolute difference), never returned.
 */
export class ShadowLane {
  private inFlight = 0
  private readonly now: () => number

  constructor(private readonly options: ShadowLaneOptions) {
    this.now = options.now ?? (() => performance.now())
  }

  get name(): string {
    return this.options.name
  }

  /** Whether a copy would be taken now, given the answering variant's load and the shadow's budget. */
  accepts(answering: AnsweringLoad): boolean {
    if (!shadowCopyAdmitted(answering, this.inFlight, this.options.cores)) return false
    return this.options.budget?.available() ?? true
  }

  /** Counts a copy not made. */
  shed(): void {
    this.options.stats.copies.shed++
    this.options.metrics?.shadowCopies.inc({outcome: 'shed', variant: this.options.name})
  }

  /** Sends a copy; `answer` is what the answering variant predicted, `entry` where feedback finds the request. */
  send(feeds: TensorMap, answer: RowPredictions | undefined, entry: ServedPrediction | undefined): void {
    const {backend, budget, metrics, name, stats, timeoutMs} = this.options
    if (budget && !budget.take()) {
      this.shed()
      return
    }
    this.inFlight++
    const started = this.now()
    backend.run(feeds, {signal: AbortSignal.timeout(timeoutMs)}).then(
      (outputs) => {
        this.inFlight--
        budget?.spend(this.now() - started)
        stats.copies.completed++
        stats.recordLatency(this.now() - started)
        metrics?.shadowCopies.inc({outcome: 'completed', variant: name})
        this.options.onOutputs?.(outputs)
        const predicted = rowPredictions(outputs[this.options.output.name], this.options.output)
        if (!predicted) return
        stats.predicted(predicted)
        entry?.shadows.set(name, predicted)
        if (answer) this.compare(predicted, answer)
      },
      (error: unknown) => {
        this.inFlight--
        budget?.spend(this.now() - started)
        // A full queue is the shadow's own load shedding; anything else (a timeout, a failed run) is a failure.
        if (error instanceof QueueFullError) {
          this.shed()
          return
        }
        stats.copies.failed++
        metrics?.shadowCopies.inc({outcome: 'failed', variant: name})
      },
    )
  }

  private compare(predicted: RowPredictions, answer: RowPredictions): void {
    const {metrics, name, stats} = this.options
    const {agreeing, differences, rows} = stats.compared(predicted, answer)
    if (!metrics) return
    if (agreeing !== undefined) {
      if (agreeing > 0) metrics.shadowAgreement.inc({result: 'agree', variant: name}, agreeing)
      if (rows > agreeing) metrics.shadowAgreement.inc({result: 'disagree', variant: name}, rows - agreeing)
    }
    for (const difference of differences ?? []) metrics.shadowAbsDifference.observe({variant: name}, difference)
  }
}

/** Below this a tensor is copied into a worker's message, not transferred: the same one can go to several backends. */
const TRANSFER_MIN_BYTES = 64 * 1024

/**
 * Feeds that can be handed to one more backend while the original is in use: the same objects when every tensor is
 * small (they are copied, never transferred, to a worker), else a copy (a large buffer is transferred, and detached).
 */
export function shareableFeeds(feeds: TensorMap): TensorMap {
  let large = false
  for (const tensor of Object.values(feeds)) {
    const data = tensor.data as {byteLength?: number}
    if ((data.byteLength ?? 0) >= TRANSFER_MIN_BYTES) large = true
  }
  if (!large) return feeds
  const copy: Record<string, TensorMap[string]> = {}
  for (const [name, tensor] of Object.entries(feeds)) copy[name] = {...tensor, data: tensor.data.slice()}
  return copy
}
