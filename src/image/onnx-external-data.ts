import {type FileHandle, open} from 'node:fs/promises'

import {ModelError} from '../errors.js'

/**
 * The external data files an ONNX model references (TensorProto.external_data "location" entries), as written in the
 * model: paths relative to the model file's folder. onnxruntime reads exactly these when it opens the model, so they
 * are what an image needs beside the model, whatever the files are called.
 *
 * The model is read with positioned reads of its protobuf wire format: tags and lengths only, tensor bytes are skipped,
 * so a 2 GB model costs a few reads per tensor rather than 2 GB of memory.
 */
export async function externalDataLocations(modelPath: string): Promise<string[]> {
  const handle = await open(modelPath, 'r')
  try {
    const reader = new WireReader(handle, (await handle.stat()).size, modelPath)
    const locations = new Set<string>()
    await walk(reader, {end: reader.size, start: 0}, 'model', locations, 0)
    return [...locations].sort()
  } finally {
    await handle.close()
  }
}

type MessageKind = 'model' | 'function' | 'graph' | 'node' | 'attribute' | 'sparse' | 'tensor' | 'entry'

/** For each message kind, its length-delimited fields that hold messages which can (transitively) hold tensors. */
const CHILDREN: Record<Exclude<MessageKind, 'tensor' | 'entry'>, Record<number, MessageKind>> = {
  // ModelProto: graph = 7, functions = 25
  model: {7: 'graph', 25: 'function'},
  // FunctionProto: node = 7, attribute_proto = 11
  function: {7: 'node', 11: 'attribute'},
  // GraphProto: node = 1, initializer = 5, sparse_initializer = 15
  graph: {1: 'node', 5: 'tensor', 15: 'sparse'},
  // NodeProto: attribute = 5
  node: {5: 'attribute'},
  // AttributeProto: t = 5, g = 6, tensors = 10, graphs = 11, sparse_tensor = 22, sparse_tensors = 23
  attribute: {5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse'},
  // SparseTensorProto: values = 1, indices = 2
  sparse: {1: 'tensor', 2: 'tensor'},
}
/** TensorProto.external_data = 13 (StringStringEntryProto: key = 1, value = 2). */
const TENSOR_EXTERNAL_DATA = 13
// Subgraphs nest (If, Loop, Scan); a model nested deeper than this is malformed or hostile.
const MAX_DEPTH = 64

interface Span {
  start: number
  end: number
}

async function walk(
  reader: WireReader,
  span: Span,
  kind: MessageKind,
  locations: Set<string>,
  depth: number,
): Promise<void> {
  if (depth > MAX_DEPTH) throw reader.malformed(`messages nested more than ${MAX_DEPTH} deep`)
  if (kind === 'tensor') {
    for await (const field of reader.fields(span)) {
      if (field.number !== TENSOR_EXTERNAL_DATA || !field.span) continue
      const entry = await readEntry(reader, field.span)
      if (entry.key === 'location' && entry.value !== undefined) locations.add(entry.value)
    }
    return
  }
  if (kind === 'entry') return
  const children = CHILDREN[kind]
  for await (const field of reader.fields(span)) {
    const child = field.span ? children[field.number] : undefined
    if (child) await walk(reader, field.span!, child, locations, depth + 1)
  }
}

async function readEntry(reader: WireReader, span: Span): Promise<{key?: string; value?: string}> {
  const entry: {key?: string; value?: string} = {}
  for await (const field of reader.fields(span)) {
    if (!field.span) continue
    const text = (await reader.bytes(field.span)).toString('utf8')
    if (field.number === 1) entry.key = text
    else if (field.number === 2) entry.value = text
  }
  return entry
}

interface Field {
  number: number
  /** The payload of a length-delimited field; absent for the other wire types. */
  span?: Span
}

const BLOCK_SIZE = 64 * 1024

/** Protobuf wire format over a file: tags, varints and length-delimited spans, read through a small block cache. */
class WireReader {
  private block = {bytes: Buffer.alloc(0), offset: 0}

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    private readonly file: string,
  ) {}

  async *fields(span: Span): AsyncGenerator<Field> {
    let position = span.start
    while (position < span.end) {
      const tag = await this.varint(position, span.end)
      const number = Math.floor(tag.value / 8)
      const wireType = tag.value % 8
      position = tag.next
      if (number === 0) throw this.malformed(`field number 0 at byte ${position}`)
      switch (wireType) {
        case 0: {
          position = (await this.varint(position, span.end)).next
          yield {number}
          break
        }
        case 1: {
          position += 8
          yield {number}
          break
        }
        case 2: {
          const length = await this.varint(position, span.end)
          const start = length.next
          const end = start + length.value
          if (end > span.end) throw this.malformed(`a field of ${length.value} bytes runs past its message`)
          position = end
          yield {number, span: {end, start}}
          break
        }
        case 5: {
          position += 4
          yield {number}
          break
        }
        default: {
          throw this.malformed(`wire type ${wireType} at byte ${position}`)
        }
      }
      if (position > span.end) throw this.malformed('a field runs past its message')
    }
  }

  async bytes(span: Span): Promise<Buffer> {
    const length = span.end - span.start
    if (length > 64 * 1024) throw this.malformed(`an external data entry of ${length} bytes`)
    const buffer = Buffer.alloc(length)
    await this.handle.read(buffer, 0, length, span.start)
    return buffer
  }

  malformed(why: string): ModelError {
    return new ModelError(`${this.file}: not a well-formed ONNX model (${why})`, {
      code: 'MODEL_INVALID',
      details: {file: this.file},
    })
  }

  private async varint(position: number, end: number): Promise<{value: number; next: number}> {
    let value = 0
    let scale = 1
    for (let i = 0; i < 10; i++) {
      if (position + i >= end) throw this.malformed(`a varint runs past its message at byte ${position}`)
      const byte = await this.byteAt(position + i)
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) return {next: position + i + 1, value}
      scale *= 128
    }
    throw this.malformed(`a varint longer than 10 bytes at byte ${position}`)
  }

  private async byteAt(position: number): Promise<number> {
    const {bytes, offset} = this.block
    if (position < offset || position >= offset + bytes.length) {
      const length = Math.min(BLOCK_SIZE, this.size - position)
      const buffer = Buffer.alloc(length)
      const {bytesRead} = await this.handle.read(buffer, 0, length, position)
      this.block = {bytes: buffer.subarray(0, bytesRead), offset: position}
      if (bytesRead === 0) throw this.malformed(`the file ends at byte ${position}`)
    }
    return this.block.bytes[position - this.block.offset]!
  }
}
