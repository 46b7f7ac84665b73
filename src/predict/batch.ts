import {createReadStream, createWriteStream} from 'node:fs'
import {stat} from 'node:fs/promises'
import path from 'node:path'
import {createInterface} from 'node:readline'
import type {Writable} from 'node:stream'
import {once} from 'node:events'

import type {OutputSpec, Signature} from '../config/schema.js'
import {errorMessage, ExitCode, MlshipError} from '../errors.js'
import {isDynamic} from '../model/signature.js'
import type {InferenceBackend} from '../serving/backend.js'
import {decodeSeedBody} from '../serving/decode.js'
import type {Device} from '../serving/device.js'
import {nestedJson, rowLabels} from '../serving/encode.js'
import {allocate, type HostTensor, type TensorMap} from '../serving/tensors.js'
import {openModel} from '../serving/open-model.js'

export type BatchFormat = 'jsonl' | 'csv'

export interface PredictBatchOptions {
  dir: string
  /** JSONL (one row per line: a list for a one-input model, or {"<input>": row, ...}) or CSV (a header is optional). */
  input: string
  /** JSONL, one line per input row in the same order: the row's predictions, or its error. "-" is stdout. */
  output: string
  /** From the input's extension when absent (.csv is CSV, anything else JSONL). */
  format?: BatchFormat
  /** Rows per inference (default: serving.max_batch_size, at most 256). */
  batchSize?: number
  /** Stop at the first bad row (default: report it and go on). */
  failFast?: boolean
  /**
   * How many rows may fail with the run still a success: a number of rows, or a fraction of the rows read. Past it
   * (by default: at the first failed row) the run ends with PREDICT_ROWS_FAILED (exit 2) once every row is written.
   */
  failureBudget?: FailureBudget
  workers?: number
  device?: Device
  onProgress?: (progress: BatchProgress) => void
  onRowError?: (error: RowError) => void
}

export type FailureBudget = {rows: number} | {fraction: number}

/** `--max-failures`: "10" (rows) or "0.5%" (of the rows read). */
export function parseFailureBudget(text: string): FailureBudget {
  const rows = /^\d+$/.exec(text)
  if (rows) return {rows: Number(text)}
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text)
  if (percent && Number(percent[1]) <= 100) return {fraction: Number(percent[1]) / 100}
  throw new MlshipError(`--max-failures ${text}: expected a number of rows ("10") or a percentage ("0.5%")`, {
    code: 'FLAG_INVALID',
    exitCode: ExitCode.usage,
  })
}

function allowedFailures(budget: FailureBudget | undefined, rows: number): number {
  if (!budget) return 0
  return 'rows' in budget ? budget.rows : Math.floor(budget.fraction * rows)
}

export interface BatchProgress {
  rows: number
  failed: number
  bytesRead: number
  totalBytes: number
}

export interface RowError {
  line: number
  message: string
}

export interface PredictBatchResult {
  input: string
  output: string
  format: BatchFormat
  rows: number
  succeeded: number
  failed: number
  seconds: number
  rowsPerSecond: number
  batchSize: number
  /** The first errors (at most 20), with their line numbers. */
  errors: RowError[]
}

interface Entry {
  line: number
  feeds?: TensorMap
  error?: string
}

const MAX_REPORTED_ERRORS = 20

/**
 * Offline batch prediction, the batch pattern beside the real-time one: streams the input (files larger than memory
 * work: at most a few batches are held at a time), runs rows in batches on the inference workers while the next
 * batches are read, and writes one JSONL line per input row, in order. A bad row becomes an error line with its line
 * number and does not stop the rest, unless `failFast`.
 */
export async function predictBatch(options: PredictBatchOptions): Promise<PredictBatchResult> {
  const format = options.format ?? (path.extname(options.input).toLowerCase() === '.csv' ? 'csv' : 'jsonl')
  const totalBytes = await inputSize(options.input)
  const model = await openModel({
    device: options.device,
    dir: options.dir,
    runIn: 'workers',
    serving: options.workers ? {workers: options.workers} : {},
  })
  const {signature} = model.project
  const batchable = signature.inputs.every((i) => i.shape.length > 0 && isDynamic(i.shape[0]!))
  const batchSize = batchable ? Math.max(1, options.batchSize ?? Math.min(model.settings.maxBatchSize, 256)) : 1
  if (format === 'csv' && signature.inputs.length !== 1) {
    await model.backend.close()
    throw new MlshipError(
      `CSV input needs a model with one input; this one has ${signature.inputs.length}: write the rows as JSONL`,
      {
        code: 'PREDICT_USAGE',
        exitCode: ExitCode.usage,
      },
    )
  }

  const out: Writable = options.output === '-' ? process.stdout : createWriteStream(options.output)
  const started = performance.now()
  const counts = {bytesRead: 0, failed: 0, rows: 0}
  const errors: RowError[] = []
  const report = (error: RowError) => {
    counts.failed++
    if (errors.length < MAX_REPORTED_ERRORS) errors.push(error)
    options.onRowError?.(error)
  }
  const limits = {maxBatchSize: Number.MAX_SAFE_INTEGER}
  const depth = model.backend.info.workers + 1
  const inflight: Array<Promise<string>> = []
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain')
  }
  const flushOldest = async () => {
    await write(await inflight.shift()!)
    options.onProgress?.({...counts, totalBytes})
  }

  let batch: Entry[] = []
  let batchDims: string | undefined
  const submit = async () => {
    if (batch.length === 0) return
    inflight.push(runBatch(batch, model.backend, signature))
    batch = []
    batchDims = undefined
    if (inflight.length >= depth) await flushOldest()
  }

  let stoppedAt: RowError | undefined
  try {
    for await (const record of readRecords(options.input, format, counts)) {
      counts.rows++
      const entry: Entry = {line: record.line}
      try {
        if (record.error) throw new Error(record.error)
        entry.feeds = decodeSeedBody(rowBody(record.value, signature), signature, limits)
      } catch (error) {
        entry.error = errorMessage(error)
        report({line: record.line, message: entry.error})
        if (options.failFast) {
          stoppedAt = {line: record.line, message: entry.error}
          batch.push(entry)
          break
        }
      }
      // Rows of one batch must agree on every dimension but the batch one.
      const dims = entry.feeds
        ? Object.values(entry.feeds)
            .map((t) => t.dims.join(','))
            .join(';')
        : undefined
      if (dims !== undefined && batchDims !== undefined && dims !== batchDims) await submit()
      if (dims !== undefined) batchDims = dims
      batch.push(entry)
      if (batch.length >= batchSize) await submit()
    }
    await submit()
    while (inflight.length > 0) await flushOldest()
  } finally {
    await Promise.allSettled(inflight)
    await model.backend.close()
    if (out !== process.stdout) {
      out.end()
      await once(out, 'finish').catch(() => {})
    }
  }
  // Rows that failed inside a batch run are counted when their batch is written.
  const seconds = (performance.now() - started) / 1000
  const result: PredictBatchResult = {
    batchSize,
    errors,
    failed: counts.failed,
    format,
    input: options.input,
    output: options.output,
    rows: counts.rows,
    rowsPerSecond: Math.round(counts.rows / Math.max(seconds, 1e-9)),
    seconds: Math.round(seconds * 1000) / 1000,
    succeeded: counts.rows - counts.failed,
  }
  const allowed = allowedFailures(options.failureBudget, result.rows)
  const [first] = errors
  if (!stoppedAt && first && result.failed > allowed) {
    throw new MlshipError(
      `${options.input}: ${result.failed} of ${result.rows} rows failed${allowed > 0 ? ` (${allowed} allowed)` : ''}, the first at line ${first.line}: ${first.message}`,
      {
        code: 'PREDICT_ROWS_FAILED',
        details: {...result, allowedFailures: allowed},
        exitCode: ExitCode.usage,
        suggestions: [
          `Every row is in ${options.output === '-' ? 'the output' : options.output}: the failed ones as {"line", "error"}.`,
          'To accept some failed rows, pass --max-failures (a number of rows, or a percentage such as 1%).',
        ],
      },
    )
  }
  if (stoppedAt) {
    throw new MlshipError(
      `${options.input}:${stoppedAt.line}: ${stoppedAt.message} (stopped by --fail-fast after ${counts.rows} rows)`,
      {
        code: 'PREDICT_BAD_ROW',
        details: {...result},
        exitCode: ExitCode.usage,
      },
    )
  }
  return result

  async function runBatch(entries: Entry[], backend: InferenceBackend, sig: Signature): Promise<string> {
    const good = entries.filter((e) => e.feeds)
    let rows: Array<string | undefined> = []
    if (good.length > 0) {
      try {
        rows = await runRows(good, backend, sig)
      } catch {
        // One bad row can fail a whole batch in onnxruntime: run the rows one by one to find it.
        rows = []
        for (const entry of good) {
          try {
            rows.push((await runRows([entry], backend, sig))[0])
          } catch (error) {
            entry.error = `inference failed: ${errorMessage(error)}`
            entry.feeds = undefined
            report({line: entry.line, message: entry.error})
            rows.push(undefined)
          }
        }
      }
    }
    let text = ''
    let next = 0
    for (const entry of entries) {
      if (entry.error !== undefined && !entry.feeds) {
        text += `{"line":${entry.line},"error":${JSON.stringify(entry.error)}}\n`
        if (good.includes(entry)) next++
        continue
      }
      text += `${rows[next++] ?? ''}\n`
    }
    return text
  }
}

/** The request body of one row: a list is the one input's row; an object names inputs (or is a seed body). */
function rowBody(value: unknown, signature: Signature): unknown {
  if (Array.isArray(value) || typeof value !== 'object' || value === null) {
    if (signature.inputs.length !== 1) {
      throw new Error(
        `a bare row fits a one-input model; this one has ${signature.inputs.length} inputs: write {${signature.inputs.map((i) => `"${i.name}": ...`).join(', ')}}`,
      )
    }
    return {features: [value]}
  }
  const record = value as Record<string, unknown>
  if ('features' in record && Object.keys(record).length === 1) return {features: [record.features]}
  const inputs =
    'inputs' in record && Object.keys(record).length === 1 ? (record.inputs as Record<string, unknown>) : record
  if (typeof inputs !== 'object' || inputs === null) throw new Error('"inputs" must be an object of input name -> row')
  return {inputs: Object.fromEntries(Object.entries(inputs).map(([name, row]) => [name, [row]]))}
}

/** Runs rows (each a batch of one) as one batch and gives each row's JSONL line. */
async function runRows(entries: Entry[], backend: InferenceBackend, signature: Signature): Promise<string[]> {
  const feeds: TensorMap = {}
  for (const spec of signature.inputs) feeds[spec.name] = concatRows(entries.map((e) => e.feeds![spec.name]!))
  const outputs = await backend.run(feeds)
  const k = entries.length
  for (const [name, tensor] of Object.entries(outputs)) {
    if (tensor.dims[0] !== k)
      throw new Error(`output "${name}" has no batch dimension (shape [${tensor.dims.join(', ')}])`)
  }
  return entries.map((entry, i) => rowLine(entry.line, i, outputs, signature.outputs))
}

function concatRows(rows: HostTensor[]): HostTensor {
  const first = rows[0]!
  if (rows.length === 1) return first
  const rowSize = first.data.length
  const data = allocate(first.dtype, rowSize * rows.length)
  rows.forEach((row, i) => {
    if (Array.isArray(data)) data.splice(i * rowSize, rowSize, ...(row.data as string[]))
    else (data as {set(a: ArrayLike<number | bigint>, o: number): void}).set(row.data as ArrayLike<number>, i * rowSize)
  })
  return {data, dims: [rows.length, ...first.dims.slice(1)], dtype: first.dtype}
}

function rowOf(tensor: HostTensor, i: number): HostTensor {
  const width = tensor.dims.slice(1).reduce((a, b) => a * b, 1)
  const data = Array.isArray(tensor.data)
    ? tensor.data.slice(i * width, (i + 1) * width)
    : tensor.data.subarray(i * width, (i + 1) * width)
  return {data: data, dims: [1, ...tensor.dims.slice(1)], dtype: tensor.dtype}
}

function rowLine(line: number, i: number, outputs: TensorMap, specs: readonly OutputSpec[]): string {
  const first = specs[0]!
  const main = rowOf(outputs[first.name]!, i)
  let text = `{"line":${line},"predictions":${nestedJson({...main, dims: main.dims.slice(1)})}`
  for (const spec of specs) {
    const tensor = outputs[spec.name]
    const label = tensor ? rowLabels(rowOf(tensor, i), spec)?.[0] : undefined
    if (label !== undefined) {
      text += `,"label":${JSON.stringify(label)}`
      break
    }
  }
  if (specs.length > 1) {
    const parts = specs
      .filter((s) => outputs[s.name])
      .map((s) => {
        const row = rowOf(outputs[s.name]!, i)
        return `${JSON.stringify(s.name)}:${nestedJson({...row, dims: row.dims.slice(1)})}`
      })
    text += `,"outputs":{${parts.join(',')}}`
  }
  return `${text}}`
}

interface InputRecord {
  line: number
  value?: unknown
  error?: string
}

async function* readRecords(
  file: string,
  format: BatchFormat,
  counts: {bytesRead: number},
): AsyncGenerator<InputRecord> {
  // csv-parse before the stream exists: the 'data' listener below sets it flowing at once, and no chunk may pass
  // before the parser is piped in.
  const csv = format === 'jsonl' ? undefined : await import('csv-parse')
  const stream = createReadStream(file)
  stream.on('data', (chunk) => {
    counts.bytesRead += chunk.length
  })
  if (format === 'jsonl') {
    let line = 0
    for await (const text of createInterface({crlfDelay: Number.POSITIVE_INFINITY, input: stream})) {
      line++
      if (text.trim() === '') continue
      try {
        yield {line, value: JSON.parse(text) as unknown}
      } catch (error) {
        yield {error: `not valid JSON: ${errorMessage(error)}`, line}
      }
    }
    return
  }
  const parser = stream.pipe(csv!.parse({info: true, relax_column_count: true, skip_empty_lines: true, trim: true}))
  let first = true
  for await (const {info, record} of parser as AsyncIterable<{record: string[]; info: {lines: number}}>) {
    const cells = record.map(csvCell)
    // A first record with a cell that is not a number is a header.
    if (first && cells.some((c) => typeof c === 'string')) {
      first = false
      continue
    }
    first = false
    yield {line: info.lines, value: cells}
  }
}

function csvCell(cell: string): unknown {
  if (cell === 'true' || cell === 'false') return cell === 'true'
  if (cell !== '' && Number.isFinite(Number(cell))) return Number(cell)
  return cell
}

async function inputSize(file: string): Promise<number> {
  try {
    const info = await stat(file)
    if (info.isDirectory()) throw new Error('it is a directory')
    return info.size
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new MlshipError(`${file}: ${code === 'ENOENT' ? 'no such file' : errorMessage(error)}`, {
      code: 'PREDICT_INPUT_MISSING',
      exitCode: ExitCode.usage,
    })
  }
}
