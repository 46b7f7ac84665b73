import type {FeatureBaseline} from '../config/schema.js'
import {binIndex, quantileEdges} from './bins.js'

export const DEFAULT_BASELINE_BINS = 10
/** Values kept per feature for the quantiles; beyond it a uniform reservoir sample stands for the rest. */
export const DEFAULT_RESERVOIR_SIZE = 100_000

/**
 * Summarises one feature of a training set as model.yaml's `monitoring.baseline` entry: mean, std, min and max
 * (exact, streaming), quantile bin edges and the fraction of rows in each bin (exact up to the reservoir size, from a
 * uniform sample beyond it, so files larger than memory work). NaN and infinite values are left out.
 */
export class FeatureAccumulator {
  private readonly sample: number[] = []
  private n = 0
  private mean = 0
  private m2 = 0
  private min = Number.POSITIVE_INFINITY
  private max = Number.NEGATIVE_INFINITY
  // A fixed-seed generator: the same data gives the same baseline.
  private seed = 0x9e3779b9

  constructor(
    readonly tensor: string,
    readonly index: number,
    readonly name?: string,
    private readonly reservoirSize = DEFAULT_RESERVOIR_SIZE,
  ) {}

  add(value: number): void {
    if (!Number.isFinite(value)) return
    this.n++
    const delta = value - this.mean
    this.mean += delta / this.n
    this.m2 += delta * (value - this.mean)
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
    if (this.sample.length < this.reservoirSize) this.sample.push(value)
    else {
      const slot = Math.floor(this.random() * this.n)
      if (slot < this.reservoirSize) this.sample[slot] = value
    }
  }

  get count(): number {
    return this.n
  }

  summarise(bins = DEFAULT_BASELINE_BINS): FeatureBaseline {
    const sorted = Float64Array.from(this.sample).sort()
    // Rounded before counting, so the fractions are those of the edges model.yaml will hold.
    const edges = dedupe(quantileEdges(Array.from(sorted), bins).map(round))
    const counts = new Array<number>(edges.length - 1).fill(0)
    for (const v of sorted) counts[binIndex(edges, v)]!++
    const empty = this.n === 0
    return {
      input: this.tensor,
      index: this.index,
      ...(this.name === undefined ? {} : {name: this.name}),
      mean: round(this.mean),
      std: empty ? 0 : round(Math.sqrt(this.m2 / this.n)),
      min: empty ? 0 : round(this.min),
      max: empty ? 0 : round(this.max),
      bin_edges: edges,
      bin_fractions: counts.map((c) => (sorted.length > 0 ? round(c / sorted.length) : 0)),
    }
  }

  private random(): number {
    // mulberry32
    this.seed = (this.seed + 0x6d2b79f5) | 0
    let t = this.seed
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** Six significant digits: enough for drift statistics, short enough to read in model.yaml. */
function round(value: number): number {
  return value === 0 ? 0 : Number(value.toPrecision(6))
}

function dedupe(edges: number[]): number[] {
  const out = edges.filter((edge, i) => i === 0 || edge > edges[i - 1]!)
  return out.length >= 2 ? out : [out[0]!, out[0]! + Math.max(Math.abs(out[0]!) * 1e-3, 1e-6)]
}
