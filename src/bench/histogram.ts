import {createRequire} from 'node:module'

import type * as HdrHistogram from 'hdr-histogram-js'

/**
 * Latencies are recorded in microseconds in an HDR histogram (3 significant digits: 0.1% error at any magnitude,
 * from 1 µs up to an hour), so p99.9 of a long run costs no more memory than p50 of a short one.
 */
export type Histogram = HdrHistogram.Histogram

/**
 * hdr-histogram-js, loaded by the first histogram rather than with the module: `mlship bench` imports this module to
 * start, and the package costs 45 ms to load. Required, not imported, because histograms are made synchronously.
 */
function hdr(): typeof HdrHistogram {
  return createRequire(import.meta.url)('hdr-histogram-js') as typeof HdrHistogram
}

export interface LatencySummary {
  /** Requests recorded. */
  count: number
  meanMs: number
  p50Ms: number
  p90Ms: number
  p95Ms: number
  p99Ms: number
  p999Ms: number
  maxMs: number
}

export function createHistogram(): Histogram {
  return hdr().build({
    autoResize: true,
    bitBucketSize: 32,
    highestTrackableValue: 3_600_000_000,
    lowestDiscernibleValue: 1,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  })
}

export function recordMs(histogram: Histogram, ms: number): void {
  histogram.recordValue(Math.max(1, Math.round(ms * 1000)))
}

const round = (us: number) => Math.round(us) / 1000

export function summarize(histogram: Histogram): LatencySummary {
  const count = histogram.totalCount
  const at = (p: number) => (count === 0 ? 0 : round(histogram.getValueAtPercentile(p)))
  return {
    count,
    maxMs: count === 0 ? 0 : round(histogram.maxValue),
    meanMs: count === 0 ? 0 : round(histogram.mean),
    p50Ms: at(50),
    p90Ms: at(90),
    p95Ms: at(95),
    p99Ms: at(99),
    p999Ms: at(99.9),
  }
}

/** A histogram crosses a worker boundary as the standard compressed HdrHistogram encoding. */
export function encodeHistogram(histogram: Histogram): string {
  return hdr().encodeIntoCompressedBase64(histogram)
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr().decodeFromCompressedBase64(encoded, 32, false)
}
