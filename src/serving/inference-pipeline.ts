import path from 'node:path'

import {primaryVariant} from '../config/variants.js'

import {ModelMonitor, type ModelMonitorLogger} from '../monitoring/model-monitor.js'
import {createServingMetrics, type ServingMetrics} from '../monitoring/metrics.js'
import {PredictionLog} from '../monitoring/prediction-log.js'
import {histogramSeries} from '../monitoring/series.js'
import {DeadlineExceededError, QueueFullError, type Refusal} from './admission.js'
import type {BackendInfo, InferenceBackend, RunOptions} from './backend.js'
import {Batcher, canBatch} from './batcher.js'
import type {ServingContext} from './context.js'
import type {PredictionCache} from './prediction-cache.js'
import type {TensorMap} from './tensors.js'

export interface InferencePipelineOptions {
  /** Process CPU and memory metrics (default true); off in tests that build many servers. */
  processMetrics?: boolean
  /** Count in these metrics instead of a registry of its own (the variants of an experiment share one). */
  metrics?: ServingMetrics
  /**
   * The `variant` label of its series. Default: under model.yaml's `experiment:`, the name of the variant that is
   * this model; otherwise none.
   */
  variant?: string
}

/** What the pipeline decided at start-up, for logs and `serve --local`. */
export interface PipelineSummary {
  batching: {enabled: boolean; reason?: string; maxBatchSize: number; maxDelayMs: number}
  maxQueue: number
  maxQueueDelayMs?: number
  requestTimeoutMs: number
  cache: boolean
  metrics: boolean
  driftFeatures: number
  /** Rows to serve before drift against them starts (monitoring.drift.reference_rows, without a baseline). */
  driftReferenceRows?: number
  predictionLog?: string
}

/**
 * Serving at scale, as one pipeline around the inference backend: the dynamic batcher with its bounded admission queue
 * and deadlines, the optional prediction cache, model monitoring (prediction distribution, non-finite outputs, drift)
 * and the optional sampled prediction log, all counted in one Prometheus registry per server. Every knob comes from
 * model.yaml (`serving.batching`, `serving.max_queue`, `serving.request_timeout_ms`, `serving.cache`, `monitoring`).
 *
 * `wrapBackend` goes to startServer's option of that name; the load-shedding gate at the door (load-shedding.ts) and
 * the HTTP metrics with GET /metrics (metrics-plugin.ts) read the same pipeline.
 */
export class InferencePipeline {
  readonly metrics: ServingMetrics
  private batcher: Batcher | undefined
  private decided: PipelineSummary | undefined
  private log: ModelMonitorLogger | undefined
  private monitor: ModelMonitor | undefined
  /** The experiment variant it serves, if any (its series' `variant` label). */
  private variant: string | undefined
  private readonly createdAt = performance.now()

  constructor(options: InferencePipelineOptions = {}) {
    this.metrics = options.metrics ?? createServingMetrics({processMetrics: options.processMetrics ?? true})
    this.variant = options.variant
  }

  /** What wrapBackend decided (batching, queue, cache, monitoring); undefined until it ran. */
  get summary(): PipelineSummary | undefined {
    return this.decided
  }

  /** Where drift warnings, batching notes and refusals are logged; undefined until logTo(). */
  get logger(): ModelMonitorLogger | undefined {
    return this.log
  }

  /** Points the pipeline's log lines at the server's logger (the metrics plugin does, once the app exists). */
  logTo(logger: ModelMonitorLogger): void {
    this.log = logger
  }

  /**
   * Counts outputs computed outside the pipeline in its prediction-distribution series: an experiment's shadow copies,
   * which go straight to the shadow's workers.
   */
  observeOutputs(outputs: TensorMap): void {
    this.monitor?.observeOutputs(outputs)
  }

  /** Why a request arriving now would be refused (the admission queue is full), or undefined to accept it. */
  refusal(): Refusal | undefined {
    return this.batcher?.refusal()
  }

  readonly wrapBackend = async (
    inner: InferenceBackend,
    context: Omit<ServingContext, 'backend'>,
  ): Promise<InferenceBackend> => {
    const {config} = context.project
    const {metrics} = this
    this.variant ??= config.experiment ? primaryVariant(config.experiment).name : undefined
    const labels = this.variant === undefined ? {} : {variant: this.variant}
    metrics.modelLoadSeconds.set(labels, (performance.now() - this.createdAt) / 1000)
    metrics.modelInfo.set({...labels, name: context.modelName, version: context.modelVersion}, 1)
    metrics.inferenceWorkers.set(labels, inner.info.workers)
    // Series with labels appear with their first value; these are shown at 0 from the start, as before.
    for (const histogram of [metrics.inferenceDuration, metrics.batchSize, metrics.batchRequests])
      histogram.zero(labels)
    for (const counter of [metrics.predictionLogDropped, metrics.cacheHits, metrics.cacheMisses]) counter.inc(labels, 0)

    const batchSeries = {
      duration: histogramSeries(metrics.inferenceDuration, labels),
      requests: histogramSeries(metrics.batchRequests, labels),
      rows: histogramSeries(metrics.batchSize, labels),
    }

    const batchable = canBatch(context.signature)
    const batchingOn = config.serving.batching.enabled && batchable.ok
    const batcher = new Batcher({
      batching: batchingOn
        ? {maxBatchSize: config.serving.batching.max_batch_size, maxDelayMs: config.serving.batching.max_delay_ms}
        : false,
      concurrency: inner.info.workers,
      maxQueue: config.serving.max_queue,
      maxQueueDelayMs: config.serving.max_queue_delay_ms,
      onBatch: ({durationMs, requests, rows}) => {
        batchSeries.duration.observe(durationMs / 1000)
        batchSeries.rows.observe(rows)
        batchSeries.requests.observe(requests)
      },
      onBatchingDisabled: (reason) => this.log?.warn({batching: {reason}}, `batching turned off: ${reason}`),
      runner: inner,
      timeoutMs: context.settings.requestTimeoutMs,
    })
    this.batcher = batcher
    metrics.onScrape(() => metrics.queueDepth.set(labels, batcher.queued))

    let cache: PredictionCache | undefined
    if (config.serving.cache.enabled) {
      // Loaded only with the cache on: its hashes load node:crypto, some 1.5 ms of a process's start (issue 19).
      const {PredictionCache} = await import('./prediction-cache.js')
      cache = new PredictionCache({
        maxEntries: config.serving.cache.max_entries,
        onHit: () => metrics.cacheHits.inc(labels),
        onMiss: () => metrics.cacheMisses.inc(labels),
        ttlSeconds: config.serving.cache.ttl_seconds,
      })
    }
    const monitor = (this.monitor = new ModelMonitor({
      logger: {info: (f, m) => this.log?.info(f, m), warn: (f, m) => this.log?.warn(f, m)},
      metrics,
      monitoring: config.monitoring,
      inputs: context.signature.inputs,
      outputs: context.signature.outputs,
      ...(this.variant === undefined ? {} : {variant: this.variant}),
    }))
    const logConfig = config.monitoring.prediction_log
    let predictionLog: PredictionLog | undefined
    if (logConfig.enabled) {
      predictionLog = await PredictionLog.open({
        directory: context.settings.dataDir,
        path: logConfig.path,
        modelName: context.modelName,
        modelVersion: context.modelVersion,
        onDrop: () => metrics.predictionLogDropped.inc(labels),
        sampleRate: logConfig.sample_rate,
      })
    }
    this.decided = {
      batching: {
        enabled: batchingOn,
        maxBatchSize: config.serving.batching.max_batch_size,
        maxDelayMs: config.serving.batching.max_delay_ms,
        ...(batchable.ok ? {} : {reason: batchable.reason}),
        ...(config.serving.batching.enabled ? {} : {reason: 'serving.batching.enabled is false'}),
      },
      cache: config.serving.cache.enabled,
      driftFeatures: monitor.drift?.featureCount ?? 0,
      ...(monitor.referenceRowsMissing > 0 ? {driftReferenceRows: monitor.referenceRowsMissing} : {}),
      maxQueue: config.serving.max_queue,
      ...(config.serving.max_queue_delay_ms === undefined ? {} : {maxQueueDelayMs: config.serving.max_queue_delay_ms}),
      metrics: config.monitoring.metrics,
      requestTimeoutMs: context.settings.requestTimeoutMs,
      ...(predictionLog ? {predictionLog: path.resolve(context.settings.dataDir, logConfig.path)} : {}),
    }
    return new PipelineBackend(
      inner,
      {batcher, cache, metrics, monitor, predictionLog, variant: this.variant},
      context.state,
    )
  }
}

/** What one wrapBackend call set up, for the backend it returns. */
interface PipelineParts {
  batcher: Batcher
  cache: PredictionCache | undefined
  metrics: ServingMetrics
  monitor: ModelMonitor
  predictionLog: PredictionLog | undefined
  variant: string | undefined
}

class PipelineBackend implements InferenceBackend {
  readonly info: BackendInfo

  constructor(
    private readonly inner: InferenceBackend,
    private readonly parts: PipelineParts,
    private readonly state: ServingContext['state'],
  ) {
    this.info = inner.info
  }

  async run(feeds: TensorMap, options: RunOptions = {}): Promise<TensorMap> {
    const {batcher, cache, metrics, monitor, predictionLog, variant} = this.parts
    // The warm-up inferences go through the batcher (it learns their cost) but are not traffic: no cache, no model
    // metrics, no prediction log.
    if (this.state.phase === 'starting') return batcher.submit(feeds, options)
    const key = cache?.keyOf(feeds, options.outputs)
    if (key !== undefined) {
      const cached = cache!.get(key)
      if (cached) return cached
    }
    let outputs: TensorMap
    try {
      outputs = await batcher.submit(feeds, options)
    } catch (error) {
      const labels = variant === undefined ? {} : {variant}
      if (error instanceof QueueFullError) metrics.rejected.inc({...labels, reason: 'queue_full'})
      else if (error instanceof DeadlineExceededError) metrics.rejected.inc({...labels, reason: 'deadline'})
      throw error
    }
    if (key !== undefined) cache!.set(key, outputs)
    monitor.observe(feeds, outputs)
    predictionLog?.record(feeds, outputs)
    return outputs
  }

  async close(): Promise<void> {
    await this.parts.batcher.drain()
    await this.inner.close()
    await this.parts.predictionLog?.close()
  }
}
