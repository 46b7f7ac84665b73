import type {FeatureBaseline} from '../config/schema.js'
import {FeatureAccumulator} from './baseline-stats.js'
import type {DriftKind} from './drift.js'
import {rowLayout, type TensorMap, toNumber} from './tensor.js'

/** A tensor of the signature, as the reference window needs it. */
export interface ReferenceTensor {
  name: string
  dtype: string
  shape: readonly (number | string)[]
}

export interface ReferenceWindowOptions {
  inputs: readonly ReferenceTensor[]
  outputs: readonly ReferenceTensor[]
  /** Rows to collect (monitoring.drift.reference_rows); whole requests, so the reference may hold a few more. */
  rows: number
}

// A tensor with more values per row is not a set of features to watch one by one (an image, an embedding): it would
// cost a sample of `rows` values per element.
const MAX_INPUT_FEATURES = 1024
const MAX_OUTPUT_FEATURES = 100

interface Collected {
  kind: DriftKind
  tensor: string
  features: FeatureAccumulator[]
}

/**
 * Drift without a baseline, opt-in: the first rows the server answers become the reference, summarised exactly as
 * `mlship baseline` summarises training data (quantile bins per feature), so the drift monitor then compares the
 * traffic that follows with the traffic the server started with. It sees a shift after deployment, not a difference
 * from training: a baseline from training data stays the better reference.
 */
export class ReferenceWindow {
  private readonly collected: Collected[] = []
  private readonly byKey = new Map<string, Collected>()
  private seen = 0
  /** Tensors left out, and why (logged once the reference is ready). */
  readonly skipped: Array<{tensor: string; reason: string}> = []

  constructor(private readonly options: ReferenceWindowOptions) {
    for (const [kind, tensors, max] of [
      ['input', options.inputs, MAX_INPUT_FEATURES],
      ['output', options.outputs, MAX_OUTPUT_FEATURES],
    ] as const) {
      for (const spec of tensors) {
        const rowSize = fixedRowSize(spec.shape)
        let reason: string | undefined
        if (spec.dtype === 'string' || (kind === 'output' && spec.dtype === 'bool')) reason = `${spec.dtype} values`
        else if (rowSize === undefined) reason = 'a non-batch dimension is dynamic'
        else if (rowSize > max) reason = `${rowSize} values per row (more than ${max})`
        if (reason !== undefined || rowSize === undefined) {
          this.skipped.push({reason: reason ?? '', tensor: spec.name})
          continue
        }
        const entry: Collected = {
          features: Array.from(
            {length: rowSize},
            (_, i) => new FeatureAccumulator(spec.name, i, undefined, options.rows),
          ),
          kind,
          tensor: spec.name,
        }
        this.collected.push(entry)
        this.byKey.set(`${kind}:${spec.name}`, entry)
      }
    }
  }

  /** Rows collected so far. */
  get rows(): number {
    return this.seen
  }

  get full(): boolean {
    return this.seen >= this.options.rows
  }

  /** Whether any feature can be watched at all. */
  get watchable(): boolean {
    return this.collected.length > 0
  }

  /** Adds the rows of one answered request; returns true once the reference is complete. */
  add(inputs: TensorMap, outputs: TensorMap): boolean {
    if (this.full) return true
    let rows = 0
    for (const [kind, tensors] of [
      ['input', inputs],
      ['output', outputs],
    ] as const) {
      for (const [name, tensor] of Object.entries(tensors)) {
        const entry = this.byKey.get(`${kind}:${name}`)
        if (!entry) continue
        const layout = rowLayout(tensor)
        if (layout.rowSize !== entry.features.length) continue
        rows = Math.max(rows, layout.rows)
        for (let row = 0; row < layout.rows; row++) {
          const offset = row * layout.rowSize
          for (let i = 0; i < layout.rowSize; i++) entry.features[i]!.add(toNumber(tensor.data[offset + i]))
        }
      }
    }
    this.seen += rows
    return this.full
  }

  /** The reference as baseline entries (what `mlship baseline` writes into model.yaml). */
  baseline(): {inputs: FeatureBaseline[]; outputs: FeatureBaseline[]} {
    const of = (kind: DriftKind) =>
      this.collected.filter((c) => c.kind === kind).flatMap((c) => c.features.map((f) => f.summarise()))
    return {inputs: of('input'), outputs: of('output')}
  }
}

function fixedRowSize(shape: readonly (number | string)[]): number | undefined {
  let size = 1
  for (const dim of shape.slice(1)) {
    if (typeof dim !== 'number' || dim < 0) return undefined
    size *= dim
  }
  return size
}
