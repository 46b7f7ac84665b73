import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'

/** Every metric of a registry as prom-client's JSON (what AggregatorRegistry.aggregate takes). */
export type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>

/**
 * The Prometheus metrics of one server. Each server owns its registry (never prom-client's global one), so two
 * servers in one process (tests, `serve --local` beside a bench) never mix their numbers.
 *
 * Names follow the Prometheus conventions: the `mlship_` prefix, base units in the name (`_seconds`, `_bytes`),
 * `_total` for counters. Label values are bounded: routes are route patterns, never raw URLs. Under an experiment
 * (model.yaml's `experiment:`) the series of the requests, the inferences and the model carry a `variant` label
 * (the variant that answered, or the shadow); without one they carry none, as before.
 */
export interface ServingMetrics {
  readonly registry: Registry
  readonly contentType: string
  readonly httpRequests: Counter<'route' | 'method' | 'status' | 'variant'>
  readonly httpErrors: Counter<'route' | 'method' | 'status' | 'variant'>
  readonly httpDuration: Histogram<'route' | 'method' | 'status' | 'variant'>
  readonly httpInFlight: Gauge
  readonly queueDepth: Gauge<'variant'>
  readonly rejected: Counter<'reason' | 'variant'>
  readonly inferenceDuration: Histogram<'variant'>
  readonly inferenceWorkers: Gauge<'variant'>
  readonly batchSize: Histogram<'variant'>
  readonly batchRequests: Histogram<'variant'>
  readonly cacheHits: Counter<'variant'>
  readonly cacheMisses: Counter<'variant'>
  readonly modelLoadSeconds: Gauge<'variant'>
  readonly modelInfo: Gauge<'name' | 'version' | 'variant'>
  readonly predictions: Counter<'output' | 'class' | 'variant'>
  readonly predictionValues: Histogram<'output' | 'variant'>
  readonly predictionConfidence: Histogram<'output' | 'variant'>
  readonly predictionMargin: Histogram<'output' | 'variant'>
  readonly nonFiniteOutputs: Counter<'output' | 'variant'>
  readonly featureDrift: Gauge<'tensor' | 'feature' | 'kind' | 'variant'>
  readonly predictionLogDropped: Counter<'variant'>
  /** Runs before every scrape: gauges that are read rather than counted (queue depth, drift) refresh here. */
  onScrape(refresh: () => void): void
  /** The text exposition of every metric. */
  render(): Promise<string>
  /** Every metric as prom-client's JSON, refreshed like a scrape: what a cluster's first process aggregates. */
  snapshot(): Promise<MetricsSnapshot>
  /** Starts the process metrics of a registry made with `processMetrics: 'later'` (once; else it does nothing). */
  startProcessMetrics(): void
}

export interface CreateMetricsOptions {
  /**
   * Process CPU, memory, event-loop lag and GC metrics (prom-client's default set, `mlship_` prefixed); 'later': once
   * startProcessMetrics() is called (the event-loop lag histogram alone costs a few ms of a process's start).
   */
  processMetrics?: boolean | 'later'
  /** Buckets of the regression-output histogram (values of the prediction, not seconds). */
  predictionBuckets?: number[]
}

// Latencies of a model server span sub-millisecond cache hits to multi-second overloads.
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
// Probabilities: fine steps near 1, where a confident model's predictions gather.
const CONFIDENCE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1]
export const DEFAULT_PREDICTION_BUCKETS = [-1000, -100, -10, -1, -0.1, 0, 0.1, 0.25, 0.5, 0.75, 1, 10, 100, 1000]

export function createServingMetrics(options: CreateMetricsOptions = {}): ServingMetrics {
  const registry = new Registry()
  const registers = [registry]
  const refreshers: Array<() => void> = []
  let processMetrics = options.processMetrics ?? true
  const startProcessMetrics = () => {
    if (processMetrics === false) return
    processMetrics = false
    collectDefaultMetrics({prefix: 'mlship_', register: registry})
  }
  if (processMetrics === true) startProcessMetrics()

  const metrics: ServingMetrics = {
    batchRequests: new Histogram({
      buckets: BATCH_BUCKETS,
      labelNames: ['variant'] as const,
      help: 'Requests merged into one inference by the dynamic batcher.',
      name: 'mlship_inference_batch_requests',
      registers,
    }),
    batchSize: new Histogram({
      buckets: BATCH_BUCKETS,
      labelNames: ['variant'] as const,
      help: 'Rows (first-dimension entries) in one inference.',
      name: 'mlship_inference_batch_size',
      registers,
    }),
    cacheHits: new Counter({
      labelNames: ['variant'] as const,
      help: 'Predictions answered from the prediction cache.',
      name: 'mlship_cache_hits_total',
      registers,
    }),
    cacheMisses: new Counter({
      labelNames: ['variant'] as const,
      help: 'Predictions looked up in the prediction cache and not found.',
      name: 'mlship_cache_misses_total',
      registers,
    }),
    contentType: registry.contentType,
    featureDrift: new Gauge({
      help: 'Population stability index of a feature over the sliding window against the model.yaml baseline (above 0.2 is usually drift).',
      labelNames: ['tensor', 'feature', 'kind', 'variant'] as const,
      name: 'mlship_feature_drift_psi',
      // Across the processes of a cluster (AggregatorRegistry): each sees about 1/N of the traffic, so its PSI is
      // noisier than the whole's; the maximum of N noisy figures drifts upward (false alarms), their mean does not.
      aggregator: 'average',
      registers,
    }),
    httpDuration: new Histogram({
      buckets: LATENCY_BUCKETS,
      help: 'HTTP request duration, from the request line to the last byte of the response.',
      labelNames: ['route', 'method', 'status', 'variant'] as const,
      name: 'mlship_http_request_duration_seconds',
      registers,
    }),
    httpErrors: new Counter({
      help: 'HTTP responses with a 4xx or 5xx status.',
      labelNames: ['route', 'method', 'status', 'variant'] as const,
      name: 'mlship_http_request_errors_total',
      registers,
    }),
    httpInFlight: new Gauge({
      help: 'HTTP requests being served now.',
      name: 'mlship_http_requests_in_flight',
      registers,
    }),
    httpRequests: new Counter({
      help: 'HTTP requests served.',
      labelNames: ['route', 'method', 'status', 'variant'] as const,
      name: 'mlship_http_requests_total',
      registers,
    }),
    inferenceDuration: new Histogram({
      buckets: LATENCY_BUCKETS,
      labelNames: ['variant'] as const,
      help: 'Duration of one inference (one batch) on a worker, queueing excluded.',
      name: 'mlship_inference_duration_seconds',
      registers,
    }),
    inferenceWorkers: new Gauge({
      labelNames: ['variant'] as const,
      help: 'Inference worker threads of this server (serving.workers; "auto" follows the container CPU limit).',
      name: 'mlship_inference_workers',
      registers,
    }),
    modelInfo: new Gauge({
      help: 'The model served: always 1, with its name and version as labels.',
      labelNames: ['name', 'version', 'variant'] as const,
      name: 'mlship_model_info',
      // Across the processes of a cluster (AggregatorRegistry): the same model in each, not a sum.
      aggregator: 'max',
      registers,
    }),
    modelLoadSeconds: new Gauge({
      labelNames: ['variant'] as const,
      help: 'Time taken to load the model and run the warm-up inference.',
      name: 'mlship_model_load_duration_seconds',
      // Across the processes of a cluster (AggregatorRegistry): the same model in each, not a sum.
      aggregator: 'max',
      registers,
    }),
    nonFiniteOutputs: new Counter({
      help: 'NaN or infinite values in model outputs.',
      labelNames: ['output', 'variant'] as const,
      name: 'mlship_nonfinite_outputs_total',
      registers,
    }),
    predictionLogDropped: new Counter({
      labelNames: ['variant'] as const,
      help: 'Sampled predictions not written to the prediction log because the disk could not keep up.',
      name: 'mlship_prediction_log_dropped_total',
      registers,
    }),
    predictionConfidence: new Histogram({
      buckets: CONFIDENCE_BUCKETS,
      help: 'Top class probability of each prediction, for outputs whose rows are probabilities (model confidence).',
      labelNames: ['output', 'variant'] as const,
      name: 'mlship_prediction_confidence',
      registers,
    }),
    predictionMargin: new Histogram({
      buckets: CONFIDENCE_BUCKETS,
      help: 'Top class probability minus the runner-up of each prediction (small margins: the model hesitates).',
      labelNames: ['output', 'variant'] as const,
      name: 'mlship_prediction_margin',
      registers,
    }),
    predictionValues: new Histogram({
      buckets: options.predictionBuckets ?? DEFAULT_PREDICTION_BUCKETS,
      help: 'Distribution of predicted values of regression outputs.',
      labelNames: ['output', 'variant'] as const,
      name: 'mlship_prediction_value',
      registers,
    }),
    predictions: new Counter({
      help: 'Predictions per predicted class (argmax by label, or by index for unlabelled probabilities; or the value of an integer label output).',
      labelNames: ['output', 'class', 'variant'] as const,
      name: 'mlship_predictions_total',
      registers,
    }),
    queueDepth: new Gauge({
      labelNames: ['variant'] as const,
      help: 'Requests waiting for an inference worker.',
      name: 'mlship_inference_queue_depth',
      registers,
    }),
    registry,
    rejected: new Counter({
      help: 'Requests refused by admission control: queue_full (503) or deadline (504).',
      labelNames: ['reason', 'variant'] as const,
      name: 'mlship_requests_rejected_total',
      registers,
    }),
    onScrape: (refresh) => {
      refreshers.push(refresh)
    },
    render: async () => {
      for (const refresh of refreshers) refresh()
      return registry.metrics()
    },
    snapshot: async () => {
      for (const refresh of refreshers) refresh()
      return registry.getMetricsAsJSON()
    },
    startProcessMetrics,
  }
  return metrics
}
