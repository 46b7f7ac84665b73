import {createReadStream} from 'node:fs'
import {createInterface} from 'node:readline'

import {ConfigError, errorMessage} from '../errors.js'

/** An input the data file feeds: its name and the number of values in one row (product of non-batch dimensions). */
export interface DataInput {
  name: string
  rowSize: number
}

/** One row of data: the values of each input, flat and row-major; `line` is where it came from (1-based). */
export interface DataRow {
  line: number
  values: Record<string, number[]>
}

export interface ReadDataOptions {
  file: string
  inputs: readonly DataInput[]
  /** CSV columns to leave out (a label or an id). */
  ignoreColumns?: readonly string[]
}

export interface DataHeader {
  /** Feature names from a CSV header, per input (absent for JSONL or a CSV without a header). */
  names?: Record<string, string[]>
}

export type DataFormat = 'csv' | 'jsonl'

export function dataFormat(file: string): DataFormat {
  if (/\.csv$/i.test(file)) return 'csv'
  if (/\.(jsonl|ndjson|json)$/i.test(file)) return 'jsonl'
  throw new ConfigError(`${file}: unknown data format (expected .csv or .jsonl)`, {
    code: 'DATA_FORMAT',
    details: {file},
    suggestions: ['Give a CSV file (one feature per column) or a JSONL file (one request body per line).'],
  })
}

/**
 * Streams the rows of a CSV or JSONL data file, so files larger than memory work.
 *
 * CSV: one row per line, one column per feature of the model's single input (an optional header names the
 * features; `ignoreColumns` drops a label column). JSONL: one object per line in the form of a /predict body
 * (`{"features": [...]}` or `{"inputs": {"name": [...]}}`), a mapping of input names, or a bare array; a line may hold
 * several rows.
 */
export async function* readDataRows(options: ReadDataOptions, header: DataHeader = {}): AsyncGenerator<DataRow> {
  if (dataFormat(options.file) === 'csv') yield* readCsv(options, header)
  else yield* readJsonl(options)
}

function dataError(file: string, line: number, message: string, suggestions: string[] = []): ConfigError {
  return new ConfigError(`${file}:${line}: ${message}`, {code: 'DATA_INVALID', details: {file, line}, suggestions})
}

async function* readCsv(options: ReadDataOptions, header: DataHeader): AsyncGenerator<DataRow> {
  const {file, inputs} = options
  if (inputs.length !== 1) {
    throw new ConfigError(
      `${file}: a CSV file can feed a model with one input; this model has ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`,
      {
        code: 'DATA_FORMAT',
        details: {file},
        suggestions: ['Write the data as JSONL, one {"inputs": {"<name>": [...]}} object per line.'],
      },
    )
  }
  const input = inputs[0]!
  const ignore = new Set(options.ignoreColumns ?? [])
  const {parse} = await import('csv-parse')
  const parser = createReadStream(file).pipe(
    parse({info: true, relax_column_count: false, skip_empty_lines: true, trim: true}),
  )
  let keep: number[] | undefined
  let line = 0
  try {
    for await (const {info, record} of parser as AsyncIterable<{info: {lines: number}; record: string[]}>) {
      line = info.lines
      if (keep === undefined) {
        const isHeader = record.some((cell) => cell !== '' && Number.isNaN(Number(cell)))
        const names = isHeader ? record : record.map((_, i) => String(i))
        keep = names.flatMap((name, i) => (ignore.has(name) ? [] : [i]))
        const unknown = [...ignore].filter((name) => !names.includes(name))
        if (unknown.length > 0)
          throw dataError(
            file,
            line,
            `no column named ${unknown.map((n) => `"${n}"`).join(', ')} to ignore (columns: ${names.join(', ')})`,
          )
        if (keep.length !== input.rowSize) {
          throw dataError(
            file,
            line,
            `${keep.length} feature columns, but input "${input.name}" takes ${input.rowSize} values per row`,
            ['Leave out label or id columns with --ignore-column NAME.'],
          )
        }
        if (isHeader) {
          header.names = {[input.name]: keep.map((i) => names[i]!)}
          continue
        }
      }
      const values = keep.map((i) => Number(record[i]))
      const bad = values.findIndex((v) => Number.isNaN(v))
      if (bad !== -1) throw dataError(file, line, `column ${keep[bad]! + 1} is "${record[keep[bad]!]}", not a number`)
      yield {line, values: {[input.name]: values}}
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw dataError(file, line + 1, `cannot be read as CSV: ${errorMessage(error)}`)
  }
}

async function* readJsonl(options: ReadDataOptions): AsyncGenerator<DataRow> {
  const {file, inputs} = options
  const lines = createInterface({crlfDelay: Number.POSITIVE_INFINITY, input: createReadStream(file)})
  let line = 0
  for await (const text of lines) {
    line++
    if (text.trim() === '') continue
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (error) {
      throw dataError(file, line, `not valid JSON (${errorMessage(error)})`)
    }
    const byInput = tensorsOfLine(parsed, inputs)
    if (typeof byInput === 'string') throw dataError(file, line, byInput)
    // Split each input's values into rows; every input must hold the same number of rows.
    let rows: number | undefined
    for (const input of inputs) {
      const flat = byInput[input.name]!
      if (flat.length % input.rowSize !== 0 || flat.length === 0) {
        throw dataError(
          file,
          line,
          `input "${input.name}" has ${flat.length} values, not a whole number of rows of ${input.rowSize}`,
        )
      }
      const n = flat.length / input.rowSize
      if (rows !== undefined && n !== rows)
        throw dataError(file, line, `the inputs hold different numbers of rows (${rows} and ${n})`)
      rows = n
    }
    for (let r = 0; r < rows!; r++) {
      const values: Record<string, number[]> = {}
      for (const input of inputs)
        values[input.name] = byInput[input.name]!.slice(r * input.rowSize, (r + 1) * input.rowSize)
      yield {line, values}
    }
  }
}

function tensorsOfLine(parsed: unknown, inputs: readonly DataInput[]): Record<string, number[]> | string {
  const single = inputs.length === 1 ? inputs[0]!.name : undefined
  let source: Record<string, unknown>
  if (Array.isArray(parsed)) {
    if (!single) return `a bare array can only feed a model with one input; name the inputs: {"inputs": {...}}`
    source = {[single]: parsed}
  } else if (parsed && typeof parsed === 'object') {
    const object = parsed as Record<string, unknown>
    if (object.inputs && typeof object.inputs === 'object' && !Array.isArray(object.inputs))
      source = object.inputs as Record<string, unknown>
    else if ('features' in object && single && !(single in object)) source = {[single]: object.features}
    else source = object
  } else {
    return 'expected an object or an array'
  }
  const out: Record<string, number[]> = {}
  for (const input of inputs) {
    if (!(input.name in source))
      return `no value for input "${input.name}" (keys: ${Object.keys(source).join(', ') || 'none'})`
    const flat: number[] = []
    const problem = flatten(source[input.name], flat)
    if (problem) return `input "${input.name}": ${problem}`
    out[input.name] = flat
  }
  return out
}

function flatten(value: unknown, into: number[]): string | undefined {
  if (typeof value === 'number') {
    into.push(value)
    return undefined
  }
  if (typeof value === 'boolean') {
    into.push(value ? 1 : 0)
    return undefined
  }
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = flatten(item, into)
      if (problem) return problem
    }
    return undefined
  }
  return `${JSON.stringify(value)} is not a number`
}
