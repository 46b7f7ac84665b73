import {realpath} from 'node:fs/promises'
import path from 'node:path'

import type {FastifyPluginAsync} from 'fastify'

import {type ResolvedExperiment, resolveExperiment} from '../../experiment/resolve.js'
import type {InferenceBackend} from '../backend.js'
import type {RoutePluginOptions, ServingContext} from '../context.js'
import {usableCpus} from '../cpus.js'
import {InferencePipeline} from '../inference-pipeline.js'
import {openModel} from '../open-model.js'
import type {TensorMap} from '../tensors.js'
import {warmUpFeeds} from '../warm-up.js'
import type {WorkerPoolOptions} from '../worker-pool.js'
import {FeedbackStore} from './feedback-store.js'
import {createExperimentMetrics} from './metrics.js'
import {experimentPlugin} from './plugin.js'
import {type ServedVariant, VariantRouter} from './router.js'
import {ShadowLane} from './shadow.js'
import {machineCapacitySources, shadowBudgets} from './shadow-budget.js'
import {VariantStats} from './variant-stats.js'

/** Shadows' inference threads run at the lowest priority: below the answering variants (nice 5) and the HTTP thread. */
export const SHADOW_THREAD_NICE = 19

/** A shadow copy is given up after this long (or the shadow's request_timeout_ms, if shorter). */
const SHADOW_TIMEOUT_MS = 5000

export interface StartExperimentOptions {
  /** The server's context: the primary model, its scaled backend, its settings and phase. */
  context: ServingContext
  /** The primary's inference pipeline: its metrics registry is shared with the variants'. */
  pipeline?: InferencePipeline
  env: NodeJS.ProcessEnv
  onWorkerExit?: WorkerPoolOptions['onWorkerExit']
  /** Uniform in [0, 1), for the weighted-random assignment (tests inject theirs). */
  random?: () => number
  /** Milliseconds, monotonic (tests inject theirs). */
  now?: () => number
  /** The cores the shadow rule shares out (default usableCpus()). */
  cores?: number
}

export interface ExperimentRuntime {
  resolved: ResolvedExperiment
  router: VariantRouter
  plugin: FastifyPluginAsync<RoutePluginOptions>
  /** One inference per worker of every variant but the primary (the server warms its own). */
  warmUp(): Promise<void>
  /** Finishes the variants' inferences in flight and stops their workers (the primary's are the server's). */
  close(): Promise<void>
}

interface Started {
  backend: InferenceBackend
  /** Its workers without the inference pipeline (what a shadow's copies go to); the primary's is its backend. */
  pool: InferenceBackend
  /** What its warm-up inferences run: the examples of its model.yaml, or zeros. */
  warmUpFeeds: () => TensorMap
  pipeline?: InferencePipeline
  workers: number
  requestTimeoutMs: number
}

/**
 * Starts every variant of model.yaml's `experiment:` beside the server's own model: each other model directory gets
 * its own inference workers (at nice 19 for a shadow) and its own inference pipeline (batcher, cache, model
 * monitoring), counted in the server's metrics with its `variant` label. Variants that name the same directory share
 * one set of workers (an A/A test of this model costs nothing).
 */
export async function startExperiment(options: StartExperimentOptions): Promise<ExperimentRuntime> {
  const {context, env, pipeline} = options
  const resolved = (await resolveExperiment(context.project, {variantsDir: env.MLSHIP_VARIANTS_DIR || undefined}))!
  const experiment = resolved.config
  const metrics = pipeline ? createExperimentMetrics(pipeline.metrics.registry) : undefined
  const started = new Map<string, Started>()
  const owned: Started[] = []
  const primary: Started = {
    backend: context.backend,
    pool: context.backend,
    warmUpFeeds: () => warmUpFeeds(context),
    pipeline,
    requestTimeoutMs: context.settings.requestTimeoutMs,
    workers: context.backend.info.workers,
  }
  const dataDir = env.MLSHIP_DATA_DIR

  try {
    for (const variant of resolved.variants) {
      if (variant.primary) continue
      const key = await realpath(variant.project.dir)
      if (started.has(key)) continue
      const project = variant.project
      const {backend: pool, settings} = await openModel({
        // Each variant's prediction log (if its model.yaml has one) in a folder of its own.
        dataDir: dataDir ? path.resolve(dataDir, 'variants', variant.name) : project.dir,
        device: context.backend.info.executionProvider,
        env,
        nice: variant.shadow ? SHADOW_THREAD_NICE : undefined,
        onWorkerExit: options.onWorkerExit,
        project,
        runIn: 'workers',
      })
      const entry: Started = {
        backend: pool,
        pool,
        requestTimeoutMs: settings.requestTimeoutMs,
        warmUpFeeds: () => warmUpFeeds(project),
        workers: settings.workers,
      }
      owned.push(entry)
      if (pipeline) {
        const variantPipeline = new InferencePipeline({metrics: pipeline.metrics, variant: variant.name})
        entry.pipeline = variantPipeline
        entry.backend = await variantPipeline.wrapBackend(pool, {
          limits: {maxBatchSize: settings.maxBatchSize},
          modelName: project.config.name,
          modelVersion: project.config.version,
          outputNames: project.signature.outputs.map((o) => o.name),
          project,
          settings,
          signature: project.signature,
          // The server's phase: warm-up inferences stay out of the variant's metrics as they do of the primary's.
          state: context.state,
        })
      }
      started.set(key, entry)
    }
  } catch (error) {
    await Promise.allSettled(owned.map((entry) => entry.backend.close()))
    throw error
  }

  const output = context.signature.outputs[0]!
  const served: ServedVariant[] = []
  const entries: Started[] = []
  for (const variant of resolved.variants) {
    const entry = variant.primary ? primary : started.get(await realpath(variant.project.dir))!
    entries.push(entry)
    served.push({
      backend: entry.backend,
      workers: entry.workers,
      modelVersion: variant.project.config.version,
      name: variant.name,
      shadow: variant.shadow,
      stats: new VariantStats({
        model: variant.model,
        modelVersion: variant.project.config.version,
        name: variant.name,
        shadow: variant.shadow,
        weight: variant.weight,
      }),
    })
  }
  const cores = options.cores ?? usableCpus()
  // One reading of the machine for all shadows, started only where there is one.
  const capacity = served.some((variant) => variant.shadow) ? machineCapacitySources() : undefined
  // The shadows split one share of the spare CPU: each budget sees the same idle time.
  const budgets = capacity
    ? shadowBudgets(served.filter((variant) => variant.shadow).length, {cores, sources: capacity})
    : []
  const shadows = served.flatMap((variant, index) => {
    if (!variant.shadow) return []
    const entry = entries[index]!
    return [
      new ShadowLane({
        backend: entry.pool,
        budget: budgets.shift()!,
        cores,
        // The primary's own directory as its shadow would count in the primary's series: it has none of its own.
        ...(entry === primary ? {} : {onOutputs: (outputs) => entry.pipeline?.observeOutputs(outputs)}),
        metrics,
        name: variant.name,
        ...(options.now ? {now: options.now} : {}),
        output,
        stats: variant.stats,
        timeoutMs: Math.min(SHADOW_TIMEOUT_MS, entry.requestTimeoutMs),
      }),
    ]
  })
  const store = experiment.outcome
    ? new FeedbackStore({
        maxPredictions: experiment.feedback.max_predictions,
        ttlSeconds: experiment.feedback.ttl_seconds,
        ...(options.now ? {now: options.now} : {}),
      })
    : undefined
  const router = new VariantRouter({
    experiment,
    metrics,
    output,
    shadows,
    state: context.state,
    store,
    variants: served,
    ...(options.random ? {random: options.random} : {}),
  })
  const httpPlugin = experimentPlugin({
    control: resolved.control,
    experiment,
    metrics,
    output,
    router,
    startedAt: new Date(),
    store,
    variants: served,
    ...(options.now ? {now: options.now} : {}),
  })
  const plugin: FastifyPluginAsync<RoutePluginOptions> = async (app, pluginOptions) => {
    // The variants' drift warnings and batching notes go to the server's log, as the primary's do.
    for (const entry of owned) entry.pipeline?.logTo(app.log)
    app.log.info(
      {
        experiment: {
          control: resolved.control,
          name: experiment.name,
          sticky: experiment.sticky ?? 'none (weighted random)',
          variants: resolved.variants.map((v) => ({
            model: v.model,
            name: v.name,
            version: v.project.config.version,
            ...(v.shadow ? {shadow: true} : {weight: v.weight}),
          })),
        },
      },
      `experiment ${experiment.name}: ${resolved.variants.map((v) => (v.shadow ? `${v.name} (shadow)` : `${v.name} ${v.weight}%`)).join(', ')}`,
    )
    await httpPlugin(app, pluginOptions)
  }
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'mlship-experiment',
  })

  return {
    close: async () => {
      capacity?.close()
      await Promise.allSettled(owned.map((entry) => entry.backend.close()))
    },
    plugin,
    resolved,
    router,
    warmUp: async () => {
      // A failed warm-up is not fatal (the server logs its own); the first request pays for it.
      await Promise.all(
        owned.flatMap((entry) =>
          Array.from({length: entry.workers}, () => entry.backend.run(entry.warmUpFeeds()).catch(() => undefined)),
        ),
      )
    },
  }
}
