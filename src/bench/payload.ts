import {readFile} from 'node:fs/promises'

import type {Dimension, InputSpec, Signature, TensorDtype} from '../config/schema.js'
import {ConfigError, errorMessage, ExitCode, MlshipError} from '../errors.js'
import {seededRandom} from './schedule.js'

export interface Payloads {
  /** Request bodies, sent in turn. */
  bodies: string[]
  /** Where they came from, for the report. */
  source: string
  /** Rows per request (the first dimension), where known. */
  batchSize: number | null
}

export interface SignaturePayloadOptions {
  /** Rows per request. Default: the example's own rows, or 1. */
  batchSize?: number
  /** How many distinct random bodies to make (they rotate, so a response cache cannot answer them all). */
  count?: number
  seed?: number
}

/**
 * Bodies for an mlship server, in the seed contract: `{"features": ...}` for a model with one input,
 * `{"inputs": {"name": ...}}` otherwise. The example inputs of model.yaml are used where every input has one
 * (tiled to --batch-size rows); otherwise valid random tensors of the signature's dtypes and shapes.
 */
export function payloadsFromSignature(signature: Signature, options: SignaturePayloadOptions = {}): Payloads {
  const withExamples = signature.inputs.every((input) => Array.isArray(input.example))
  if (withExamples) {
    const values = signature.inputs.map((input) => tileRows(input.example as unknown[], options.batchSize))
    const rows = values[0]?.length ?? null
    return {batchSize: rows, bodies: [encodeBody(signature, values)], source: 'the example inputs of model.yaml'}
  }
  const random = seededRandom(options.seed ?? 7)
  const count = options.count ?? 64
  const bodies: string[] = []
  for (let i = 0; i < count; i++) {
    bodies.push(
      encodeBody(
        signature,
        signature.inputs.map((input) => randomTensor(input, options.batchSize ?? 1, random)),
      ),
    )
  }
  return {
    batchSize: options.batchSize ?? 1,
    bodies,
    source: `random tensors of the signature (${count} bodies in turn)`,
  }
}

function encodeBody(signature: Signature, values: unknown[]): string {
  if (signature.inputs.length === 1) return JSON.stringify({features: values[0]})
  return JSON.stringify({inputs: Object.fromEntries(signature.inputs.map((input, i) => [input.name, values[i]]))})
}

/** Repeats (or cuts) the example's rows to `rows` rows. */
function tileRows(example: unknown[], rows: number | undefined): unknown[] {
  if (rows === undefined || example.length === 0) return example
  return Array.from({length: rows}, (_, i) => example[i % example.length])
}

function randomTensor(input: InputSpec, batchSize: number, random: () => number): unknown {
  // The first dynamic dimension is the batch; any other dynamic dimension gets size 1.
  const dims = input.shape.map((dim: Dimension, axis) =>
    typeof dim === 'number' && dim >= 0 ? dim : axis === 0 ? batchSize : 1,
  )
  const build = (axis: number): unknown => {
    if (axis === dims.length) return randomValue(input.dtype, random)
    return Array.from({length: dims[axis]!}, () => build(axis + 1))
  }
  return build(0)
}

function randomValue(dtype: TensorDtype, random: () => number): unknown {
  switch (dtype) {
    case 'float32':
    case 'float64':
    case 'float16':
      return Math.round(random() * 10_000) / 10_000
    case 'bool':
      return random() < 0.5
    case 'string':
      return `s${Math.floor(random() * 1000)}`
    default:
      // Small non-negative integers fit every integer type and are valid indices for most embedding tables.
      return Math.floor(random() * 10)
  }
}

/** Bodies from a file: a JSON document is one body; a .jsonl file holds one body per line. */
export async function payloadsFromFile(file: string): Promise<Payloads> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new MlshipError(
      `--payload ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(error)}`,
      {
        code: 'BENCH_PAYLOAD_INVALID',
        details: {file},
        exitCode: ExitCode.usage,
      },
    )
  }
  const lines = file.endsWith('.jsonl') || file.endsWith('.ndjson') ? text.split('\n') : [text]
  const bodies: string[] = []
  lines.forEach((line, index) => {
    if (line.trim() === '') return
    try {
      bodies.push(JSON.stringify(JSON.parse(line)))
    } catch (error) {
      throw new ConfigError(
        `--payload ${file}${lines.length > 1 ? `:${index + 1}` : ''}: not valid JSON (${errorMessage(error)})`,
        {
          code: 'BENCH_PAYLOAD_INVALID',
          details: {file, line: index + 1},
          suggestions: [
            'The payload is sent as the request body as is: a JSON document, or one per line in a .jsonl file.',
          ],
        },
      )
    }
  })
  if (bodies.length === 0) {
    throw new ConfigError(`--payload ${file}: the file is empty`, {code: 'BENCH_PAYLOAD_INVALID', details: {file}})
  }
  return {batchSize: null, bodies, source: file}
}
