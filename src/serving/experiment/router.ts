import type {ExperimentConfig} from '../../config/experiment.js'
import type {OutputSpec} from '../../config/schema.js'
import {Assigner} from '../../experiment/assignment.js'
import type {InferenceBackend, RunOptions} from '../backend.js'
import {
  type InferenceRouter,
  type RoutedInference,
  type RoutedRequest,
  type ServerPhase,
  VARIANT_HEADER,
} from '../context.js'
import {RequestError} from '../request-error.js'
import type {TensorMap} from '../tensors.js'
import type {FeedbackStore, ServedPrediction} from './feedback-store.js'
import type {ExperimentMetrics} from './metrics.js'
import {rowPredictions} from './predictions.js'
import {type ShadowLane, shareableFeeds} from './shadow.js'
import type {VariantStats} from './variant-stats.js'

/** A variant as the server runs it. */
export interface ServedVariant {
  name: string
  modelVersion: string
  shadow: boolean
  backend: InferenceBackend
  /** Its inference workers (the shadow rule leaves it that many cores). */
  workers: number
  stats: VariantStats
}

export interface VariantRouterOptions {
  experiment: ExperimentConfig
  /** Every variant, in model.yaml's order. */
  variants: readonly ServedVariant[]
  shadows: readonly ShadowLane[]
  /** The output predictions are read from (the primary's first). */
  output: OutputSpec
  /** Where POST /feedback finds predictions; absent without experiment.outcome. */
  store?: FeedbackStore
  metrics?: ExperimentMetrics
  state: {phase: ServerPhase}
  random?: () => number
}

export type AssignmentKind = 'forced' | 'sticky' | 'random'

/**
 * The experiment's side of an inference request: which variant answers it (forced by X-Mlship-Variant where allowed,
 * else by the sticky key where there is one, else at random by weight), then, once it has answered, what it predicted
 * (counted, and remembered for POST /feedback) and a copy for each shadow that takes one.
 */
export class VariantRouter implements InferenceRouter {
  private readonly assigner: Assigner
  private readonly byName: Map<string, ServedVariant>
  /** Each variant's requests in flight (queued or running): a shadow copy is made only of an idle variant's. */
  private readonly inFlight = new Map<string, number>()

  constructor(private readonly options: VariantRouterOptions) {
    const {experiment} = options
    this.assigner = new Assigner({
      arms: experiment.variants.filter((v) => !v.shadow).map((v) => ({name: v.name, weight: v.weight ?? 0})),
      experiment: experiment.name,
      random: options.random,
    })
    this.byName = new Map(options.variants.map((v) => [v.name, v]))
  }

  /** The variant a request names with X-Mlship-Variant, if it may and does (400 for a name that is no variant). */
  forcedVariant(headers: RoutedRequest['headers']): ServedVariant | undefined {
    if (!this.options.experiment.force_header) return undefined
    const raw = headers[VARIANT_HEADER]
    const name = Array.isArray(raw) ? raw[0] : raw
    if (name === undefined || name === '') return undefined
    const variant = this.byName.get(name)
    if (!variant) {
      throw new RequestError(
        400,
        `unknown variant "${name.slice(0, 64)}" in X-Mlship-Variant: this server's variants are ${[...this.byName.keys()].join(', ')}`,
      )
    }
    return variant
  }

  assign(request: RoutedRequest): RoutedInference {
    const forced = this.forcedVariant(request.headers)
    let kind: AssignmentKind
    let variant: ServedVariant
    if (forced) {
      kind = 'forced'
      variant = forced
    } else {
      const key = this.stickyKey(request)
      kind = key === undefined ? 'random' : 'sticky'
      variant = this.byName.get(key === undefined ? this.assigner.assignRandom() : this.assigner.assignKey(key))!
    }
    this.options.metrics?.assignments.inc({assignment: kind, variant: variant.name})
    return {
      modelVersion: variant.modelVersion,
      run: (feeds, options) => this.run(variant, kind === 'forced', request, feeds, options),
      variant: variant.name,
    }
  }

  private stickyKey(request: RoutedRequest): string | undefined {
    const {sticky} = this.options.experiment
    if (!sticky) return undefined
    if ('header' in sticky) {
      const value = request.headers[sticky.header.toLowerCase()]
      const key = Array.isArray(value) ? value[0] : value
      return key === '' ? undefined : key
    }
    // A top-level field of the body, or of a v2 body's "parameters". A large body decoded by a decode thread has
    // only its tensors left: it has no key (README: use a header for sticky assignment of such bodies).
    const body = request.body as Record<string, unknown> | null | undefined
    if (typeof body !== 'object' || body === null) return undefined
    const parameters = body.parameters as Record<string, unknown> | undefined
    const value =
      body[sticky.field] ??
      (typeof parameters === 'object' && parameters !== null ? parameters[sticky.field] : undefined)
    return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined
  }

  private async run(
    variant: ServedVariant,
    forced: boolean,
    request: RoutedRequest,
    feeds: TensorMap,
    options: RunOptions | undefined,
  ): Promise<TensorMap> {
    const {shadows, state, store} = this.options
    // Shadows copy the experiment's traffic, not what a developer forced, and nothing while starting or draining.
    const copying = !forced && shadows.length > 0 && state.phase === 'ready'
    // Taken before the answer runs (a large tensor is transferred to, and detached by, the variant's worker), whenever
    // the shadow has room: the variant may be idle again by the time this request is answered.
    const copies = copying
      ? shadows.map((lane) =>
          lane.accepts({inFlight: 0, workers: variant.workers}) ? shareableFeeds(feeds) : undefined,
        )
      : undefined

    this.inFlight.set(variant.name, (this.inFlight.get(variant.name) ?? 0) + 1)
    let outputs: TensorMap
    try {
      outputs = await variant.backend.run(feeds, options)
    } finally {
      this.inFlight.set(variant.name, (this.inFlight.get(variant.name) ?? 1) - 1)
    }

    const predictions = rowPredictions(outputs[this.options.output.name], this.options.output)
    if (predictions && !forced) variant.stats.predicted(predictions)
    let entry: ServedPrediction | undefined
    if (store) {
      entry = {
        forced,
        outcomeRecorded: false,
        predictions,
        rows: predictions?.rows.length ?? 1,
        shadows: new Map(),
        variant: variant.name,
      }
      store.remember([request.id, request.bodyId], entry)
    }
    if (copies) {
      const load = {inFlight: this.inFlight.get(variant.name) ?? 0, workers: variant.workers}
      shadows.forEach((lane, index) => {
        const copy = copies[index]
        if (copy && lane.accepts(load)) lane.send(copy, predictions, entry)
        else lane.shed()
      })
    }
    return outputs
  }
}
