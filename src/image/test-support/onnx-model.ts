/**
 * Writes small ONNX models for tests, in the protobuf wire format itself (no onnx package here): an Add of an input
 * and a float initializer whose data lives in an external file, as exporters do for models over 2 GB.
 */
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

function varint(value: number): Buffer {
  const bytes: number[] = []
  let rest = value
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  bytes.push(rest)
  return Buffer.from(bytes)
}

function field(number: number, payload: Buffer | string | number): Buffer {
  if (typeof payload === 'number') return Buffer.concat([varint(number * 8), varint(payload)])
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload
  return Buffer.concat([varint(number * 8 + 2), varint(bytes.length), bytes])
}

const FLOAT = 1

function valueInfo(name: string, dims: number[]): Buffer {
  const shape = Buffer.concat(dims.map((d) => field(1, field(1, d))))
  const tensorType = Buffer.concat([field(1, FLOAT), field(2, shape)])
  return Buffer.concat([field(1, name), field(2, field(1, tensorType))])
}

export interface ExternalModelOptions {
  /** Folder of the model file. */
  dir: string
  /** Model file name (default model.onnx). */
  file?: string
  /** The external data location written into the model, relative to its folder. */
  location: string
  /** The initializer added to the input (two floats). */
  weights?: [number, number]
  /** Write the external data file at `location` (default true). */
  writeData?: boolean
}

/** y = x + w with x: float[1, 2] and w (two floats) stored in the external file `location`. */
export async function writeExternalDataModel(options: ExternalModelOptions): Promise<string> {
  const weights = options.weights ?? [10, 20]
  const data = Buffer.alloc(8)
  data.writeFloatLE(weights[0], 0)
  data.writeFloatLE(weights[1], 4)
  const entry = (key: string, value: string) => field(13, Buffer.concat([field(1, key), field(2, value)]))
  const initializer = Buffer.concat([
    field(1, 2),
    field(2, FLOAT),
    field(8, 'w'),
    entry('location', options.location),
    entry('offset', '0'),
    entry('length', '8'),
    field(14, 1),
  ])
  const node = Buffer.concat([field(1, 'x'), field(1, 'w'), field(2, 'y'), field(3, 'add'), field(4, 'Add')])
  const graph = Buffer.concat([
    field(1, node),
    field(2, 'external'),
    field(5, initializer),
    field(11, valueInfo('x', [1, 2])),
    field(12, valueInfo('y', [1, 2])),
  ])
  const model = Buffer.concat([
    field(1, 8),
    field(2, 'mlship-test'),
    field(7, graph),
    field(8, Buffer.concat([field(1, ''), field(2, 13)])),
  ])
  const modelPath = path.join(options.dir, options.file ?? 'model.onnx')
  await writeFile(modelPath, model)
  if (options.writeData !== false) await writeFile(path.join(path.dirname(modelPath), options.location), data)
  return modelPath
}
