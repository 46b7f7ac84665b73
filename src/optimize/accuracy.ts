import {stat} from 'node:fs/promises'
import path from 'node:path'
import ort from 'onnxruntime-node'

import {fixedRowSize, tensorData} from '../baseline/baseline.js'
import {type DataInput, type DataRow, dataFormat, readDataRows} from '../baseline/read-data.js'
import type {FeatureBaseline, InputSpec, OutputSpec, Signature} from '../config/schema.js'
import {ConfigError, errorMessage, ModelError} from '../errors.js'
import type {ResolvedModel} from '../model/load-model.js'
import {isDynamic} from '../model/signature.js'

export const DEFAULT_GENERATED_ROWS = 1000
export const DEFAULT_MAX_ROWS = 50_000
const BATCH_ROWS = 256

export interface GateData {
  rows: DataRow[]
  inputs: DataInput[]
  /** Where the rows came from, for messages: the data file, or "model.yaml examples + N generated rows". */
  source: string
  /** Rows of --data left unread past maxRows. */
  truncated: boolean
}

export interface GateDataOptions {
  project: ResolvedModel
  /** A CSV or JSONL file of rows (as `mlship baseline` reads them); model.yaml examples and generated rows if none. */
  data?: string
  ignoreColumns?: string[]
  /** Rows drawn from monitoring.baseline's histograms when no data file is given. */
  generatedRows?: number
  maxRows?: number
  /** Seed of the generated rows: the same model.yaml gives the same rows. */
  seed?: number
}

/**
 * The rows both models are run on: the data file's, or else model.yaml's examples plus rows drawn feature by feature
 * from the baseline's histograms (monitoring.baseline, written by `mlship baseline`), which stay inside the ranges
 * the model was trained on.
 */
export async function gateData(options: GateDataOptions): Promise<GateData> {
  const {project} = options
  const inputs = dataInputs(project.file, project.signature.inputs)
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS
  if (options.data) {
    const file = path.resolve(options.data)
    dataFormat(file)
    // Checked first: the CSV reader's stream would not pass a missing file on to the loop below.
    await stat(file).catch(() => {
      throw new ConfigError(`${file}: no such file`, {
        code: 'DATA_NOT_FOUND',
        details: {file},
        suggestions: ['Pass held-out rows with --data FILE (.csv or .jsonl).'],
      })
    })
    const rows: DataRow[] = []
    let truncated = false
    for await (const row of readDataRows({file, ignoreColumns: options.ignoreColumns, inputs})) {
      if (rows.length >= maxRows) {
        truncated = true
        break
      }
      rows.push(row)
    }
    if (rows.length === 0) throw new ConfigError(`${file}: no data rows`, {code: 'DATA_INVALID', details: {file}})
    return {inputs, rows, source: file, truncated}
  }

  const examples = exampleRows(project.signature.inputs, inputs)
  const generated = generatedRows(
    inputs,
    project.config.monitoring.baseline?.features ?? [],
    options.generatedRows ?? DEFAULT_GENERATED_ROWS,
    options.seed ?? 1,
  )
  const rows = [...examples, ...generated]
  if (rows.length === 0) {
    throw new ConfigError(
      `${project.file}: nothing to check the optimised model on: no --data, no signature examples and no monitoring.baseline`,
      {
        code: 'OPTIMIZE_NO_DATA',
        details: {file: project.file},
        suggestions: [
          'Pass held-out rows with --data FILE (.csv or .jsonl, as `mlship baseline` reads them).',
          'Or run `mlship baseline DIR --data train.csv` first: optimize then draws rows from its feature ranges.',
        ],
      },
    )
  }
  const parts = [
    ...(examples.length > 0 ? [`${examples.length} model.yaml example row${examples.length === 1 ? '' : 's'}`] : []),
    ...(generated.length > 0 ? [`${generated.length} rows drawn from monitoring.baseline`] : []),
  ]
  return {inputs, rows, source: parts.join(' + '), truncated: false}
}

function dataInputs(file: string, specs: readonly InputSpec[]): DataInput[] {
  return specs.map((spec) => {
    const rowSize = fixedRowSize(spec.shape)
    if (spec.dtype === 'string' || spec.dtype === 'bool' || rowSize === undefined) {
      throw new ConfigError(
        `${file}: input "${spec.name}" is ${spec.dtype === 'string' || spec.dtype === 'bool' ? `a ${spec.dtype} tensor` : 'dynamic past its batch dimension'}; ` +
          'mlship optimize checks models whose inputs are numeric rows of a fixed size',
        {code: 'OPTIMIZE_UNSUPPORTED', details: {file, input: spec.name}},
      )
    }
    return {name: spec.name, rowSize}
  })
}

function exampleRows(specs: readonly InputSpec[], inputs: readonly DataInput[]): DataRow[] {
  const flat = new Map<string, number[]>()
  for (const spec of specs) {
    if (spec.example === undefined) return []
    const values: number[] = []
    const collect = (value: unknown) => {
      if (Array.isArray(value)) for (const item of value) collect(item)
      else values.push(Number(value))
    }
    collect(spec.example)
    flat.set(spec.name, values)
  }
  const counts = inputs.map((input) => flat.get(input.name)!.length / input.rowSize)
  const count = counts[0]!
  if (!counts.every((c) => c === count && Number.isInteger(c))) return []
  return Array.from({length: count}, (_, r) => ({
    line: 0,
    values: Object.fromEntries(
      inputs.map((input) => [input.name, flat.get(input.name)!.slice(r * input.rowSize, (r + 1) * input.rowSize)]),
    ),
  }))
}

function generatedRows(
  inputs: readonly DataInput[],
  features: readonly FeatureBaseline[],
  count: number,
  seed: number,
): DataRow[] {
  const byInput = new Map<string, FeatureBaseline[]>()
  for (const input of inputs) {
    const mine = features.filter((f) => f.input === input.name).sort((a, b) => a.index - b.index)
    // Every feature of every input needs its histogram, or there is nothing honest to draw from.
    if (mine.length !== input.rowSize || mine.some((f, i) => f.index !== i)) return []
    byInput.set(input.name, mine)
  }
  const random = mulberry32(seed)
  return Array.from({length: count}, () => ({
    line: 0,
    values: Object.fromEntries(
      inputs.map((input) => [input.name, byInput.get(input.name)!.map((feature) => drawFrom(feature, random))]),
    ),
  }))
}

/** A value from a feature's histogram: a bin by its share of the training rows, then uniformly inside it. */
function drawFrom(feature: FeatureBaseline, random: () => number): number {
  const edges = feature.bin_edges
  let u = random()
  let bin = 0
  for (; bin < feature.bin_fractions.length - 1; bin++) {
    u -= feature.bin_fractions[bin]!
    if (u < 0) break
  }
  const low = edges[bin]!
  const high = edges[Math.min(bin + 1, edges.length - 1)]!
  return low + random() * (high - low)
}

/** A small seeded generator (mulberry32): the generated rows are the same on every run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d_2b_79_f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

export interface OutputAgreement {
  name: string
  max_abs_diff: number
  mean_abs_diff: number
  /** Classifier outputs (labels in model.yaml): the share of rows whose largest value is at the same position. */
  argmax_agreement?: number
  /** Integer outputs (class ids): the share of rows with exactly the same values. */
  exact_agreement?: number
}

export interface AgreementReport {
  rows: number
  outputs: OutputAgreement[]
  /** The lowest agreement over the classifier and integer outputs; absent when the model has neither. */
  agreement?: number
}

/** Runs both models on every row and compares their outputs, output by output. */
export async function compareModels(options: {
  reference: ort.InferenceSession
  candidate: ort.InferenceSession
  signature: Signature
  data: GateData
}): Promise<AgreementReport> {
  const {signature, data} = options
  const outputs = signature.outputs.filter((spec) => spec.dtype !== 'string')
  const tallies = outputs.map((spec) => new OutputTally(spec))
  const batchable = signature.inputs.every((spec) => spec.shape.length > 0 && isDynamic(spec.shape[0]!))
  const step = batchable ? BATCH_ROWS : 1
  for (let start = 0; start < data.rows.length; start += step) {
    const rows = data.rows.slice(start, start + step)
    const feeds = feedsOf(signature.inputs, data.inputs, rows)
    const names = outputs.map((spec) => spec.name)
    const [expected, actual] = [
      await runOrExplain(options.reference, feeds, names, 'the source model', rows),
      await runOrExplain(options.candidate, feeds, names, 'the optimised model', rows),
    ]
    for (const tally of tallies) tally.add(expected[tally.spec.name]!, actual[tally.spec.name]!, rows.length)
  }
  const reports = tallies.map((tally) => tally.report())
  const agreements = reports.flatMap((r) => [r.argmax_agreement, r.exact_agreement].filter((v) => v !== undefined))
  return {
    ...(agreements.length > 0 ? {agreement: Math.min(...agreements)} : {}),
    outputs: reports,
    rows: data.rows.length,
  }
}

export function feedsOf(
  specs: readonly InputSpec[],
  inputs: readonly DataInput[],
  rows: readonly DataRow[],
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {}
  for (const input of inputs) {
    const spec = specs.find((s) => s.name === input.name)!
    const values = rows.flatMap((row) => row.values[input.name]!)
    const dims = spec.shape.length === 0 ? [] : [rows.length, ...spec.shape.slice(1).map(Number)]
    feeds[input.name] = new ort.Tensor(spec.dtype, tensorData(spec.dtype, values), dims)
  }
  return feeds
}

async function runOrExplain(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  outputs: string[],
  what: string,
  rows: readonly DataRow[],
): Promise<ort.InferenceSession.OnnxValueMapType> {
  try {
    return await session.run(feeds, outputs)
  } catch (error) {
    const line = rows[0]!.line
    throw new ModelError(`${what} failed on the rows${line > 0 ? ` from line ${line}` : ''}: ${errorMessage(error)}`, {
      code: 'MODEL_RUN_FAILED',
    })
  }
}

class OutputTally {
  private maxDiff = 0
  private diffSum = 0
  private values = 0
  private rows = 0
  private sameRows = 0
  private readonly kind: 'argmax' | 'exact' | 'none'

  constructor(readonly spec: OutputSpec) {
    const integer = /int|bool/.test(spec.dtype)
    this.kind = integer ? 'exact' : spec.labels ? 'argmax' : 'none'
  }

  add(expected: ort.Tensor, actual: ort.Tensor, rows: number): void {
    const a = expected.data as ArrayLike<number | bigint>
    const b = actual.data as ArrayLike<number | bigint>
    if (a.length !== b.length) {
      throw new ModelError(
        `output "${this.spec.name}": the optimised model gives ${b.length} values for ${rows} rows, the source ${a.length}`,
        {code: 'OPTIMIZE_FAILED'},
      )
    }
    const rowSize = rows > 0 ? a.length / rows : a.length
    for (let r = 0; r < rows; r++) {
      let same = true
      let bestA = 0
      let bestB = 0
      for (let i = 0; i < rowSize; i++) {
        const x = Number(a[r * rowSize + i])
        const y = Number(b[r * rowSize + i])
        const diff = Number.isNaN(x) && Number.isNaN(y) ? 0 : Math.abs(x - y)
        if (!(diff <= this.maxDiff)) this.maxDiff = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff
        this.diffSum += Number.isFinite(diff) ? diff : 0
        if (x !== y) same = false
        if (x > Number(a[r * rowSize + bestA])) bestA = i
        if (y > Number(b[r * rowSize + bestB])) bestB = i
      }
      if (this.kind === 'argmax' ? bestA === bestB : same) this.sameRows++
    }
    this.values += a.length
    this.rows += rows
  }

  report(): OutputAgreement {
    const share = this.rows > 0 ? this.sameRows / this.rows : 1
    return {
      max_abs_diff: this.maxDiff,
      mean_abs_diff: this.values > 0 ? this.diffSum / this.values : 0,
      name: this.spec.name,
      ...(this.kind === 'argmax' ? {argmax_agreement: share} : {}),
      ...(this.kind === 'exact' ? {exact_agreement: share} : {}),
    }
  }
}
