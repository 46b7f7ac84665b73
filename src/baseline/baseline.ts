import {readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {Document, isMap, isSeq, parseDocument, visit} from 'yaml'

import {parseConfigText} from '../config/load.js'
import type {FeatureBaseline, InputSpec, OutputSpec, TensorDtype} from '../config/schema.js'
import {ConfigError, errorMessage, ModelError} from '../errors.js'
import {isDynamic} from '../model/signature.js'
import {DEFAULT_BASELINE_BINS, FeatureAccumulator} from '../monitoring/baseline-stats.js'
import {type DataHeader, type DataInput, type DataRow, dataFormat, readDataRows} from './read-data.js'
import type {InferenceBackend} from '../serving/backend.js'
import {openModel, type OpenedModel} from '../serving/open-model.js'
import {allocate, type TensorData, type TensorMap, toFloat16Bits} from '../serving/tensors.js'

export interface BaselineOptions {
  /** Directory with model.yaml (or its path). */
  dir: string
  /** The training data: CSV or JSONL. */
  data: string
  bins?: number
  /** Also run the model over the data and keep statistics of its outputs (output drift). Default true. */
  outputs?: boolean
  ignoreColumns?: string[]
  /** Compute, print, write nothing. */
  dryRun?: boolean
  /** Called every few thousand rows with the rows read so far (progress on stderr). */
  onProgress?: (rows: number) => void
}

export interface BaselineResult {
  file: string
  data: string
  rows: number
  written: boolean
  features: FeatureBaseline[]
  outputs: FeatureBaseline[]
  /** Inputs and outputs left out, and why. */
  skipped: Array<{tensor: string; reason: string}>
}

// Outputs with more values per row than this are not summarised (an embedding is not a prediction to watch).
const MAX_OUTPUT_VALUES = 100
const MODEL_BATCH_ROWS = 256

/**
 * `mlship baseline`: reference statistics of the training data (and of the model's outputs on it) written into
 * model.yaml `monitoring.baseline`, where the server's drift monitor compares live traffic against them.
 */
export async function computeBaseline(options: BaselineOptions): Promise<BaselineResult> {
  // On the CPU whatever the model is served on: a pass over the training data, on the machine that has the data.
  // The session that reads the signature is the one that runs the model over the rows.
  const model = await openModel({device: 'cpu', dir: options.dir, runIn: 'this-thread'})
  try {
    return await summariseData(model, options)
  } finally {
    await model.backend.close()
  }
}

async function summariseData({backend, project}: OpenedModel, options: BaselineOptions): Promise<BaselineResult> {
  const data = path.resolve(options.data)
  dataFormat(data)
  await stat(data).catch(() => {
    throw new ConfigError(`${data}: no such file`, {
      code: 'DATA_NOT_FOUND',
      details: {file: data},
      suggestions: ['Pass the training data with --data FILE (.csv or .jsonl).'],
    })
  })

  const skipped: BaselineResult['skipped'] = []
  const inputs: Array<DataInput & {spec: InputSpec}> = []
  for (const spec of project.signature.inputs) {
    const rowSize = fixedRowSize(spec.shape)
    if (spec.dtype === 'string') skipped.push({reason: 'string input', tensor: spec.name})
    else if (rowSize === undefined) skipped.push({reason: 'a non-batch dimension is dynamic', tensor: spec.name})
    else inputs.push({name: spec.name, rowSize, spec})
  }
  if (inputs.length !== project.signature.inputs.length) {
    throw new ConfigError(
      `${project.file}: mlship baseline needs every input to be numeric with fixed non-batch dimensions`,
      {
        code: 'BASELINE_UNSUPPORTED',
        details: {skipped},
        suggestions: [
          'Drift monitoring is for numeric feature inputs; models with text or variable-length inputs are served without it.',
        ],
      },
    )
  }

  const header: DataHeader = {}
  const accumulators = new Map<string, FeatureAccumulator[]>()
  const outputStats = new Map<string, FeatureAccumulator[]>()
  const wantOutputs = options.outputs ?? true
  const outputSpecs = wantOutputs ? project.signature.outputs.filter((spec) => keepOutput(spec, skipped)) : []
  const runModel = outputSpecs.length > 0
  const batchable = project.signature.inputs.every((spec) => spec.shape.length > 0 && isDynamic(spec.shape[0]!))
  let pending: DataRow[] = []
  let rows = 0

  const flush = async () => {
    if (!runModel || pending.length === 0) return
    const groups = batchable ? [pending] : pending.map((row) => [row])
    for (const group of groups)
      await summariseOutputs(backend, project.signature.inputs, inputs, group, outputSpecs, outputStats)
    pending = []
  }

  for await (const row of readDataRows({file: data, ignoreColumns: options.ignoreColumns, inputs}, header)) {
    for (const input of inputs) {
      let features = accumulators.get(input.name)
      if (!features) {
        const names = header.names?.[input.name]
        features = Array.from({length: input.rowSize}, (_, i) => new FeatureAccumulator(input.name, i, names?.[i]))
        accumulators.set(input.name, features)
      }
      const values = row.values[input.name]!
      for (let i = 0; i < values.length; i++) features[i]!.add(values[i]!)
    }
    rows++
    if (runModel) {
      pending.push(row)
      if (pending.length >= MODEL_BATCH_ROWS) await flush()
    }
    if (rows % 10_000 === 0) options.onProgress?.(rows)
  }
  await flush()
  if (rows === 0) {
    throw new ConfigError(`${data}: no data rows`, {code: 'DATA_INVALID', details: {file: data}})
  }

  const bins = options.bins ?? DEFAULT_BASELINE_BINS
  const features = [...accumulators.values()].flat().map((a) => a.summarise(bins))
  const outputs = [...outputStats.values()].flat().map((a) => a.summarise(bins))
  const result: BaselineResult = {data, features, file: project.file, outputs, rows, skipped, written: false}
  if (!options.dryRun) {
    await writeBaseline(project.file, {features, outputs, rows, source: path.relative(project.dir, data) || data})
    result.written = true
  }
  return result
}

export function fixedRowSize(shape: readonly (number | string)[]): number | undefined {
  let size = 1
  for (const dim of shape.slice(1)) {
    if (isDynamic(dim)) return undefined
    size *= dim as number
  }
  return size
}

function keepOutput(spec: OutputSpec, skipped: BaselineResult['skipped']): boolean {
  const rowSize = fixedRowSize(spec.shape)
  if (spec.dtype === 'string' || spec.dtype === 'bool')
    skipped.push({reason: `${spec.dtype} output`, tensor: spec.name})
  else if (rowSize === undefined) skipped.push({reason: 'a non-batch dimension is dynamic', tensor: spec.name})
  else if (rowSize > MAX_OUTPUT_VALUES)
    skipped.push({reason: `${rowSize} values per row (more than ${MAX_OUTPUT_VALUES})`, tensor: spec.name})
  else return true
  return false
}

async function summariseOutputs(
  backend: InferenceBackend,
  specs: readonly InputSpec[],
  inputs: readonly DataInput[],
  rows: readonly DataRow[],
  outputs: readonly OutputSpec[],
  stats: Map<string, FeatureAccumulator[]>,
): Promise<void> {
  const feeds: TensorMap = {}
  for (const input of inputs) {
    const spec = specs.find((s) => s.name === input.name)!
    const values = rows.flatMap((row) => row.values[input.name]!)
    const dims = spec.shape.length === 0 ? [] : [rows.length, ...spec.shape.slice(1).map(Number)]
    feeds[input.name] = {data: tensorData(spec.dtype, values), dims, dtype: spec.dtype}
  }
  let results: TensorMap
  try {
    results = await backend.run(feeds, {outputs: outputs.map((o) => o.name)})
  } catch (error) {
    throw new ModelError(`the model failed on the data rows from line ${rows[0]!.line}: ${errorMessage(error)}`, {
      code: 'MODEL_RUN_FAILED',
    })
  }
  for (const spec of outputs) {
    const tensor = results[spec.name]!
    const rowSize = tensor.dims.length <= 1 ? 1 : tensor.data.length / tensor.dims[0]!
    let accumulators = stats.get(spec.name)
    if (!accumulators) {
      accumulators = Array.from({length: rowSize}, (_, i) => new FeatureAccumulator(spec.name, i, spec.labels?.[i]))
      stats.set(spec.name, accumulators)
    }
    const data = tensor.data as ArrayLike<number | bigint>
    for (let i = 0; i < data.length; i++) accumulators[i % rowSize]!.add(Number(data[i]))
  }
}

/** The serving app's own element storage for a dtype, filled from the numbers of the data file. */
export function tensorData(dtype: TensorDtype, values: readonly number[]): TensorData {
  const data = allocate(dtype, values.length)
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(Math.trunc(value))
    else if (dtype === 'float16') (data as Uint16Array)[i] = toFloat16Bits(value)
    else if (!Array.isArray(data)) data[i] = value
  }
  return data
}

/**
 * Sets `monitoring.baseline` in model.yaml, keeping the rest of the file (comments, order, formatting) as it is;
 * each feature is one flow-style line. The result is validated before it is written.
 */
export async function writeBaseline(
  file: string,
  baseline: {source: string; rows: number; features: FeatureBaseline[]; outputs: FeatureBaseline[]},
): Promise<void> {
  const text = await readFile(file, 'utf8')
  const doc = parseDocument(text)
  const value = {
    source: baseline.source,
    rows: baseline.rows,
    features: baseline.features,
    ...(baseline.outputs.length > 0 ? {outputs: baseline.outputs} : {}),
  }
  const node = new Document(value).contents!
  visit(node, {
    Seq(_, seq, ancestors) {
      // The feature lists stay block style; each feature in them, and its bins, are written on one line.
      const parent = ancestors.at(-1)
      const key = parent && 'key' in parent ? (parent.key as {value?: unknown} | null)?.value : undefined
      if (key !== 'features' && key !== 'outputs') seq.flow = true
    },
    Map(_, map, ancestors) {
      if (ancestors.some((a) => isSeq(a))) map.flow = true
    },
  })
  if (isMap(doc.get('monitoring', true))) doc.setIn(['monitoring', 'baseline'], node)
  else doc.set('monitoring', doc.createNode({baseline: node}))
  const updated = doc.toString({flowCollectionPadding: false, lineWidth: 0})
  parseConfigText(updated, file)
  await writeFile(file, updated)
}
