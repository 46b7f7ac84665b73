import type {FastifyPluginAsync} from 'fastify'

import type {ExperimentConfig} from '../../config/experiment.js'
import type {OutputSpec} from '../../config/schema.js'
import type {ExperimentSnapshot} from '../../experiment/snapshot.js'
import {type RoutePluginOptions, VARIANT_HEADER} from '../context.js'
import {RequestError} from '../request-error.js'
import {inferenceRoute} from '../load-shedding.js'
import type {FeedbackStore, ServedPrediction} from './feedback-store.js'
import type {ExperimentMetrics} from './metrics.js'
import type {ServedVariant, VariantRouter} from './router.js'

export interface ExperimentPluginOptions {
  experiment: ExperimentConfig
  control: string
  router: VariantRouter
  variants: readonly ServedVariant[]
  store?: FeedbackStore
  metrics?: ExperimentMetrics
  /** The output outcomes are joined to (the primary's first). */
  output: OutputSpec
  startedAt: Date
  /** Milliseconds, for the uptime. */
  now?: () => number
}

/**
 * The experiment's HTTP side: every answer of an inference route counted for the variant that answered (its status
 * and latency: the split, the error rate, p50/p99), `GET /experiment` (the counts, for `mlship experiment report`)
 * and, with `experiment.outcome`, `POST /feedback`, which joins an outcome to the variant and prediction that served
 * a request id. Registered without encapsulation (what fastify-plugin does), so its hook sees every route.
 */
export function experimentPlugin(options: ExperimentPluginOptions): FastifyPluginAsync<RoutePluginOptions> {
  const {experiment, metrics, router, store, variants} = options
  const byName = new Map(variants.map((v) => [v.name, v]))
  const now = options.now ?? (() => performance.now())
  const started = now()

  const plugin: FastifyPluginAsync<RoutePluginOptions> = async (app) => {
    app.addHook('onResponse', (request, reply, done) => {
      const name = reply.getHeader(VARIANT_HEADER)
      const variant = typeof name === 'string' ? byName.get(name) : undefined
      if (variant && inferenceRoute(request.method, request.url)) {
        let forced = false
        try {
          forced = router.forcedVariant(request.headers) !== undefined
        } catch {
          // A name that is no variant was answered 400 before any variant was chosen.
        }
        variant.stats.answered(reply.statusCode, reply.elapsedTime, forced)
      }
      done()
    })

    app.get('/experiment', async (_request, reply) => {
      const snapshot: ExperimentSnapshot = {
        alpha: experiment.alpha,
        control: options.control,
        experiment: experiment.name,
        ...(experiment.minimum_detectable_effect === undefined
          ? {}
          : {minimum_detectable_effect: experiment.minimum_detectable_effect}),
        ...(experiment.outcome ? {outcome: experiment.outcome} : {}),
        power: experiment.power,
        started_at: options.startedAt.toISOString(),
        ...(experiment.sticky ? {sticky: experiment.sticky} : {}),
        uptime_seconds: Math.round((now() - started) / 100) / 10,
        variants: variants.map((v) => v.stats.snapshot()),
      }
      reply.type('application/json')
      return JSON.stringify(snapshot)
    })

    const outcome = experiment.outcome
    if (!outcome || !store) return
    app.post('/feedback', async (request, reply) => {
      const body = request.body as Record<string, unknown> | null
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        metrics?.feedback.inc({result: 'invalid'})
        throw new RequestError(400, 'send a JSON object: {"request_id": "...", "outcome": ...}')
      }
      const id = body.request_id
      if (typeof id !== 'string' || id === '') {
        metrics?.feedback.inc({result: 'invalid'})
        throw new RequestError(400, '"request_id" must be the id of a prediction (its x-request-id, or request_id)')
      }
      const entry = store.get(id)
      if (!entry) {
        metrics?.feedback.inc({result: 'unknown'})
        throw new RequestError(
          404,
          `no prediction with request id "${id.slice(0, 128)}" is remembered: it is unknown, older than experiment.feedback.ttl_seconds (${experiment.feedback.ttl_seconds} s), or was pushed out by newer ones (experiment.feedback.max_predictions)`,
        )
      }
      let values: number[] | string[]
      try {
        values = outcomeValues(body.outcome, entry, outcome.type, options.output)
      } catch (error) {
        metrics?.feedback.inc({result: 'invalid'})
        throw error
      }
      if (entry.outcomeRecorded) {
        metrics?.feedback.inc({result: 'duplicate'})
        throw new RequestError(409, `request "${id.slice(0, 128)}" already has its outcome: one is counted per request`)
      }
      entry.outcomeRecorded = true
      const answer = {
        counted: !entry.forced,
        ...(entry.predictions ? {predictions: entry.predictions.rows} : {}),
        request_id: id,
        variant: entry.variant,
      }
      reply.type('application/json')
      if (entry.forced) {
        metrics?.feedback.inc({result: 'forced'})
        return JSON.stringify({...answer, reason: 'the variant was forced with X-Mlship-Variant'})
      }
      metrics?.feedback.inc({result: 'recorded'})
      record(byName.get(entry.variant)!, entry, values, outcome.type, metrics)
      if (outcome.type === 'label') {
        for (const [shadow, predicted] of entry.shadows) {
          const stats = byName.get(shadow)!.stats
          values.forEach((label, row) => stats.outcomes.add(predicted.rows[row] === label ? 1 : 0))
        }
      }
      return JSON.stringify(answer)
    })
  }
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'mlship-experiment',
  })
  return plugin
}

function record(
  variant: ServedVariant,
  entry: ServedPrediction,
  values: number[] | string[],
  type: NonNullable<ExperimentConfig['outcome']>['type'],
  metrics: ExperimentMetrics | undefined,
): void {
  let sum = 0
  values.forEach((value, row) => {
    const observed = type === 'label' ? (entry.predictions?.rows[row] === value ? 1 : 0) : (value as number)
    variant.stats.outcomes.add(observed)
    sum += observed
  })
  metrics?.outcomes.inc({variant: variant.name}, values.length)
  metrics?.outcomeSum.inc({variant: variant.name}, sum)
}

/** The outcome of each row of the request, checked against experiment.outcome.type (400 otherwise). */
export function outcomeValues(
  outcome: unknown,
  entry: Pick<ServedPrediction, 'rows'>,
  type: NonNullable<ExperimentConfig['outcome']>['type'],
  output: OutputSpec,
): number[] | string[] {
  if (outcome === undefined) throw new RequestError(400, `"outcome" is missing (experiment.outcome.type is ${type})`)
  const list = Array.isArray(outcome) ? (outcome as unknown[]) : [outcome]
  if (list.length !== entry.rows) {
    throw new RequestError(
      400,
      `the request had ${entry.rows} row${entry.rows === 1 ? '' : 's'}: send ${entry.rows === 1 ? 'one outcome' : `a list of ${entry.rows} outcomes, one per row`}, got ${Array.isArray(outcome) ? `a list of ${list.length}` : 'one'}`,
    )
  }
  const where = (index: number) => (Array.isArray(outcome) ? `outcome[${index}]` : 'outcome')
  switch (type) {
    case 'binary':
      return list.map((value, index) => {
        if (value === true || value === 1) return 1
        if (value === false || value === 0) return 0
        throw new RequestError(
          400,
          `${where(index)} must be true or false (or 1 or 0): experiment.outcome.type is binary, got ${describe(value)}`,
        )
      })
    case 'number':
      return list.map((value, index) => {
        if (typeof value === 'number' && Number.isFinite(value)) return value
        throw new RequestError(
          400,
          `${where(index)} must be a number: experiment.outcome.type is number, got ${describe(value)}`,
        )
      })
    case 'label':
      return list.map((value, index) => {
        if (typeof value === 'string') return value
        // A class index, where the output's labels name the classes.
        if (typeof value === 'number' && Number.isInteger(value)) return output.labels?.[value] ?? String(value)
        const known = output.labels ? ` (one of ${output.labels.join(', ')})` : ''
        throw new RequestError(
          400,
          `${where(index)} must be the true class${known}: experiment.outcome.type is label, got ${describe(value)}`,
        )
      })
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string') return `"${value.slice(0, 40)}" (a string)`
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'number' || typeof value === 'boolean') return `${String(value)} (a ${typeof value})`
  return typeof value
}
