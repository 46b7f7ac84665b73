import {request} from 'undici'

/** The server's own view of the load, read from its /metrics (null: not reported). */
export interface ServerGauges {
  /** Wall-clock time of the scrape (ms since the epoch). */
  at: number
  /** Requests waiting for an inference worker. */
  queueDepth: number | null
  /** HTTP requests being served (the scrape itself not counted). */
  inFlight: number | null
  /** Mean rows per inference since the last scrape (null: no inference since). */
  batchRows: number | null
  /** Mean requests merged into one inference since the last scrape. */
  batchRequests: number | null
  /** CPU used since the last scrape, in percent of one core (200 = two cores busy). */
  cpuPercent: number | null
  /** Resident memory of the server's process. */
  memoryBytes: number | null
}

/** The counters a rate or a mean is computed from, kept between scrapes. */
export interface GaugeCounters {
  at: number
  cpuSeconds?: number
  batchRowsSum?: number
  batchRowsCount?: number
  batchRequestsSum?: number
  batchRequestsCount?: number
}

/**
 * The unlabelled samples of the Prometheus text format, by name (the gauges read here have no labels). Comment lines
 * and labelled samples are skipped; a value that is not a number is left out.
 */
export function unlabelledSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)\s+(\S+)(?:\s+-?\d+)?$/.exec(line.trim())
    if (!match) continue
    const value = Number(match[2])
    if (!Number.isNaN(value)) samples.set(match[1]!, value)
  }
  return samples
}

/** Reads the gauges from an mlship /metrics text; rates and means are over the time since `previous`. */
export function readGauges(
  text: string,
  at: number,
  previous?: GaugeCounters,
): {gauges: ServerGauges; counters: GaugeCounters} {
  const samples = unlabelledSamples(text)
  const readSample = (name: string) => samples.get(name)
  const counters: GaugeCounters = {
    at,
    batchRequestsCount: readSample('mlship_inference_batch_requests_count'),
    batchRequestsSum: readSample('mlship_inference_batch_requests_sum'),
    batchRowsCount: readSample('mlship_inference_batch_size_count'),
    batchRowsSum: readSample('mlship_inference_batch_size_sum'),
    cpuSeconds: readSample('mlship_process_cpu_seconds_total'),
  }
  const mean = (sum: keyof GaugeCounters, count: keyof GaugeCounters): number | null => {
    const [s1, c1, s0, c0] = [counters[sum], counters[count], previous?.[sum], previous?.[count]]
    if (s1 === undefined || c1 === undefined || s0 === undefined || c0 === undefined || c1 <= c0) return null
    return round1((s1 - s0) / (c1 - c0))
  }
  let cpuPercent: number | null = null
  if (counters.cpuSeconds !== undefined && previous?.cpuSeconds !== undefined && at > previous.at)
    cpuPercent = Math.max(0, round1(((counters.cpuSeconds - previous.cpuSeconds) * 100_000) / (at - previous.at)))
  const inFlight = readSample('mlship_http_requests_in_flight')
  return {
    counters,
    gauges: {
      at,
      batchRequests: mean('batchRequestsSum', 'batchRequestsCount'),
      batchRows: mean('batchRowsSum', 'batchRowsCount'),
      cpuPercent,
      inFlight: inFlight === undefined ? null : Math.max(0, inFlight - 1),
      memoryBytes: readSample('mlship_process_resident_memory_bytes') ?? null,
      queueDepth: readSample('mlship_inference_queue_depth') ?? null,
    },
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}

/** Fetches a /metrics text: the server over HTTP in production, anything with the same contract in tests. */
export type MetricsFetcher = (url: string) => Promise<{status: number; text: string}>

/** Fetches /metrics over HTTP with the server's API key, where it needs one (serving.auth.metrics protected). */
export function metricsFetcher(headers: Record<string, string> = {}): MetricsFetcher {
  return async (url) => {
    const response = await request(url, {headers, signal: AbortSignal.timeout(2000)})
    return {status: response.statusCode, text: await response.body.text()}
  }
}

export const fetchMetrics: MetricsFetcher = metricsFetcher()

/**
 * Scrapes one server's /metrics, keeping the counters between scrapes. A server without /metrics (not mlship, or
 * monitoring.metrics false) is said once, as a reason, and not asked again.
 */
export class GaugeScraper {
  private previous: GaugeCounters | undefined
  private missing: string | null = null

  constructor(
    private readonly metricsUrl: string,
    private readonly fetcher: MetricsFetcher = fetchMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  /** Why the server reports no gauges (null: it does, or has not been asked yet). */
  get unavailable(): string | null {
    return this.missing
  }

  async scrape(): Promise<ServerGauges | null> {
    if (this.missing) return null
    let answer: {status: number; text: string}
    try {
      answer = await this.fetcher(this.metricsUrl)
    } catch {
      // A busy server may not answer a scrape in time; the next second tries again.
      return null
    }
    if (answer.status === 404) {
      this.missing = `${this.metricsUrl} answers 404: not an mlship server, or monitoring.metrics is false in model.yaml`
      return null
    }
    if (answer.status === 401) {
      this.missing = `${this.metricsUrl} answers 401: it needs an API key (serving.auth.metrics); give the benchmark one with MLSHIP_API_KEY or --api-key-stdin`
      return null
    }
    if (answer.status !== 200) return null
    const {counters, gauges} = readGauges(answer.text, this.now(), this.previous)
    this.previous = counters
    return gauges
  }
}

/** The /metrics URL of the server that serves `endpoint`. */
export function metricsUrl(endpoint: string): string {
  return new URL('/metrics', endpoint).toString()
}
