import type {FeatureBaseline} from '../config/schema.js'
import {binIndex, populationStabilityIndex} from './bins.js'
import {rowLayout, type TensorMap, toNumber} from './tensor.js'

export type DriftKind = 'input' | 'output'

export interface DriftScore {
  kind: DriftKind
  tensor: string
  index: number
  name: string
  /** Population stability index of the window against the baseline; null until the window has enough rows. */
  psi: number | null
  rows: number
}

export interface DriftEvent extends DriftScore {
  psi: number
  threshold: number
  /** 'drift' when the score crosses the threshold upwards, 'recovered' when it falls back under it. */
  state: 'drift' | 'recovered'
}

export interface DriftMonitorOptions {
  inputs: readonly FeatureBaseline[]
  outputs?: readonly FeatureBaseline[]
  /** Rows in the sliding window. */
  window: number
  threshold: number
  /** Fewest rows in the window before a score is given: PSI over a handful of rows is noise. */
  minRows?: number
  /** Called when a feature crosses the threshold (once per crossing, not once per request). */
  onEvent?: (event: DriftEvent) => void
}

/**
 * Per-feature population stability index over a sliding window of the last N rows served, against the reference
 * bins in model.yaml. Each feature keeps a ring of bin indices and the count per bin, so adding a row and scoring are
 * O(1) and O(bins): cheap enough to run on every request.
 */
export class DriftMonitor {
  private readonly features: FeatureWindow[]
  private readonly byTensor = new Map<string, FeatureWindow[]>()
  private readonly minRows: number
  private readonly checkEvery: number
  private rowsSinceCheck = 0

  constructor(private readonly options: DriftMonitorOptions) {
    this.minRows = Math.min(options.minRows ?? 100, options.window)
    this.checkEvery = Math.max(1, Math.floor(options.window / 10))
    this.features = [
      ...options.inputs.map((baseline) => new FeatureWindow('input', baseline, options.window)),
      ...(options.outputs ?? []).map((baseline) => new FeatureWindow('output', baseline, options.window)),
    ]
    for (const feature of this.features) {
      const key = `${feature.kind}:${feature.baseline.input}`
      const list = this.byTensor.get(key) ?? []
      list.push(feature)
      this.byTensor.set(key, list)
    }
  }

  get featureCount(): number {
    return this.features.length
  }

  /** Adds the rows of one request (its inputs, and its outputs where the baseline describes them). */
  observe(inputs: TensorMap, outputs?: TensorMap): void {
    let rows = 0
    rows = Math.max(rows, this.add('input', inputs))
    if (outputs) rows = Math.max(rows, this.add('output', outputs))
    this.rowsSinceCheck += rows
    if (this.options.onEvent && this.rowsSinceCheck >= this.checkEvery) {
      this.rowsSinceCheck = 0
      this.check()
    }
  }

  scores(): DriftScore[] {
    return this.features.map((feature) => ({
      index: feature.baseline.index,
      kind: feature.kind,
      name: feature.baseline.name ?? String(feature.baseline.index),
      psi: feature.filled >= this.minRows ? feature.psi() : null,
      rows: feature.filled,
      tensor: feature.baseline.input,
    }))
  }

  private add(kind: DriftKind, tensors: TensorMap): number {
    let rows = 0
    for (const [name, tensor] of Object.entries(tensors)) {
      const features = this.byTensor.get(`${kind}:${name}`)
      if (!features) continue
      const layout = rowLayout(tensor)
      rows = Math.max(rows, layout.rows)
      for (let row = 0; row < layout.rows; row++) {
        const offset = row * layout.rowSize
        for (const feature of features) {
          if (feature.baseline.index < layout.rowSize)
            feature.push(toNumber(tensor.data[offset + feature.baseline.index]))
        }
      }
    }
    return rows
  }

  private check(): void {
    const {threshold, onEvent} = this.options
    for (const feature of this.features) {
      if (feature.filled < this.minRows) continue
      const psi = feature.psi()
      const drifting = psi > threshold
      if (drifting === feature.drifting) continue
      feature.drifting = drifting
      onEvent?.({
        index: feature.baseline.index,
        kind: feature.kind,
        name: feature.baseline.name ?? String(feature.baseline.index),
        psi,
        rows: feature.filled,
        state: drifting ? 'drift' : 'recovered',
        tensor: feature.baseline.input,
        threshold,
      })
    }
  }
}

class FeatureWindow {
  readonly ring: Uint16Array
  readonly counts: Uint32Array
  filled = 0
  drifting = false
  private next = 0

  constructor(
    readonly kind: DriftKind,
    readonly baseline: FeatureBaseline,
    window: number,
  ) {
    this.ring = new Uint16Array(window)
    this.counts = new Uint32Array(baseline.bin_fractions.length)
  }

  push(value: number): void {
    const bin = Math.min(binIndex(this.baseline.bin_edges, value), this.counts.length - 1)
    if (this.filled === this.ring.length) this.counts[this.ring[this.next]!]!--
    else this.filled++
    this.ring[this.next] = bin
    this.counts[bin]!++
    this.next = (this.next + 1) % this.ring.length
  }

  psi(): number {
    const actual = Array.from(this.counts, (count) => count / this.filled)
    return populationStabilityIndex(this.baseline.bin_fractions, actual)
  }
}
