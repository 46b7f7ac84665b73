/**
 * Histogram bins shared by the baseline (computed offline from training data) and the drift monitor (online): the
 * same function assigns a value to a bin on both sides, so a PSI of zero means the same distribution.
 *
 * Bins are [e0, e1), [e1, e2), ..., [e(k-1), ek]; values below e0 count in the first bin and values above ek in the
 * last, so data that moves out of the training range shows up as mass in the end bins.
 */
export function binIndex(edges: readonly number[], value: number): number {
  const last = edges.length - 2
  if (!(value >= edges[1]!)) return 0 // also NaN
  if (value >= edges[last]!) return last
  // Binary search for the largest i with edges[i] <= value.
  let lo = 1
  let hi = last
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (edges[mid]! <= value) lo = mid
    else hi = mid - 1
  }
  return lo
}

/**
 * Bin edges from the quantiles of sorted values. Repeated quantiles (discrete data) are merged, and a value that
 * holds more than one bin's share of the data (the zeros of a sparse feature) gets a bin of its own, so that a change
 * in how often it occurs is visible. A constant feature gets bins below, at and above its value.
 */
export function quantileEdges(sorted: readonly number[], bins: number): number[] {
  if (sorted.length === 0) return [0, 1]
  const edges: number[] = []
  for (let i = 0; i <= bins; i++) {
    const value = quantile(sorted, i / bins)
    if (edges.length === 0 || value > edges.at(-1)!) edges.push(value)
  }
  if (edges.length === 1) {
    const value = edges[0]!
    const h = Math.max(Math.abs(value) * 1e-3, 1e-6)
    return [value - 2 * h, value - h, value + h, value + 2 * h]
  }
  const out: number[] = []
  for (let i = 0; i < edges.length; i++) {
    const edge = edges[i]!
    out.push(edge)
    if (i === edges.length - 1) break
    const first = lowerBound(sorted, edge)
    const after = upperBound(sorted, edge)
    const next = sorted[after]
    if ((after - first) * bins >= sorted.length && next !== undefined && next < edges[i + 1]!) out.push(next)
  }
  return out
}

/**
 * First index whose value is not below `value` (lower bound), or, with `inclusive`, not at or below it (upper
 * bound).
 */
function bound(sorted: readonly number[], value: number, inclusive: boolean): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid]! < value || (inclusive && sorted[mid] === value)) lo = mid + 1
    else hi = mid
  }
  return lo
}

function lowerBound(sorted: readonly number[], value: number): number {
  return bound(sorted, value, false)
}

function upperBound(sorted: readonly number[], value: number): number {
  return bound(sorted, value, true)
}

/** Nearest-rank quantile (an observed value): edges of discrete data fall on its values, not between them. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.round((sorted.length - 1) * q)]!
}

// Empty bins would make the index infinite; the usual floor keeps one empty bin from dominating.
const PSI_FLOOR = 1e-4

/** Population stability index: sum over bins of (actual - expected) * ln(actual / expected). */
export function populationStabilityIndex(expected: readonly number[], actual: readonly number[]): number {
  let psi = 0
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]!, PSI_FLOOR)
    const a = Math.max(actual[i] ?? 0, PSI_FLOOR)
    psi += (a - e) * Math.log(a / e)
  }
  return psi
}
