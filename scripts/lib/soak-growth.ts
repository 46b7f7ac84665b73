/**
 * How the soak decides "a leak?" from its samples (scripts/bench-soak.ts).
 *
 * The long run compares a minute around minute 5 with the last minute. A run of a few minutes (--quick, in CI)
 * cannot: its resident memory still settles in steps (allocator arenas, V8 pages, connections of the knee sweep
 * closing), and one such step of 9 MB in the second minute read as +8.6% and failed CI although the 30-minute run
 * grows under 1%. So the quick rule asks for growth that goes on: the medians of consecutive windows must each rise,
 * with no single step carrying more than three quarters of the total. A fast leak grows in every window; a one-off
 * step does not. A step above three times the limit fails either way.
 *
 * The V8 heap is judged that way only in the long run. A run of a few minutes ends before V8's first full collection
 * of the old generation, so its heap in use rises in every window by what the young generation promotes: the CI run
 * that failed read 62 -> 67 -> 69 MB (+11%, each window higher) while the 30-minute run's heap grows under 1%. A few
 * minutes cannot tell that from a leak, so the quick run leaves the heap to the long one and judges resident memory,
 * which a leak of the JS heap grows as well.
 */

export interface WindowGrowth {
  /** Median of each window, in order. */
  medians: number[]
  /** Growth from each window's median to the next one's, in percent. */
  stepsPercent: number[]
  /** Growth from the first window's median to the last one's, in percent. */
  totalPercent: number
  /** Whether the growth went on across the windows (see the module comment). */
  sustained: boolean
  /** Whether this says "leak": above the limit and sustained, or above three times the limit. */
  leaking: boolean
}

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of no values')
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function percent(from: number, to: number): number {
  return from === 0 ? 0 : ((to - from) / from) * 100
}

/**
 * Splits [fromMs, endMs) into `windows` equal windows of the points (t in ms, value) and judges their growth against
 * `limitPercent`. Windows with no point are an error: the sampling was too sparse for the rule.
 */
export function windowGrowth(
  points: ReadonlyArray<{tMs: number; value: number}>,
  options: {fromMs: number; endMs: number; windows: number; limitPercent: number},
): WindowGrowth {
  const {endMs, fromMs, limitPercent, windows} = options
  if (windows < 2) throw new Error('windowGrowth needs at least 2 windows')
  const width = (endMs - fromMs) / windows
  const medians = Array.from({length: windows}, (_, index) => {
    const start = fromMs + index * width
    const last = index === windows - 1
    const inside = points.filter((p) => p.tMs >= start && (last ? p.tMs <= endMs : p.tMs < start + width))
    if (inside.length === 0) {
      throw new Error(`no sample between ${(start / 1000).toFixed(1)} s and ${((start + width) / 1000).toFixed(1)} s`)
    }
    return median(inside.map((p) => p.value))
  })
  const stepsPercent = medians.slice(1).map((to, index) => percent(medians[index]!, to))
  const totalPercent = percent(medians[0]!, medians.at(-1)!)
  const rises = medians.slice(1).map((to, index) => to - medians[index]!)
  const totalRise = medians.at(-1)! - medians[0]!
  const sustained = totalRise > 0 && rises.every((rise) => rise > 0 && rise <= 0.75 * totalRise)
  const leaking = totalPercent > 3 * limitPercent || (totalPercent > limitPercent && sustained)
  return {leaking, medians, stepsPercent, sustained, totalPercent}
}

export interface SoakVerdict {
  leaking: boolean
  /** Whether the heap's growth decides anything in this run (not in a quick one: see the module comment). */
  heapJudged: boolean
  /** Resident memory as judged: all of it, or (a quick run) the part outside V8's heap (see soakVerdict). */
  residentJudged: 'rss' | 'outside-heap'
}

/**
 * The run's verdict. A quick run with V8's committed heap sampled judges the resident memory outside that heap: V8
 * grows the old generation's pages in steps until its first full collection, which a few minutes do not reach, and
 * those steps are RSS too. A clean CI run read RSS 241 -> 246 -> 254 MB (+5.3%, each window higher) and failed; a
 * run of the same code read V8's committed heap 62 -> 80 -> 91 MB over 3 minutes while RSS outside it went from 175 to
 * 170 MB. A native leak still grows outside the heap; RSS above three times the limit fails in any case, a fast
 * leak of the JS heap too; the long run judges both as before.
 */
export function soakVerdict(
  rss: WindowGrowth,
  heap: WindowGrowth,
  options: {quick: boolean; limitPercent: number; outsideHeap?: WindowGrowth},
): SoakVerdict {
  const heapJudged = !options.quick
  if (options.quick && options.outsideHeap) {
    const leaking = options.outsideHeap.leaking || rss.totalPercent > 3 * options.limitPercent
    return {heapJudged, leaking, residentJudged: 'outside-heap'}
  }
  return {heapJudged, leaking: rss.leaking || (heapJudged && heap.leaking), residentJudged: 'rss'}
}
