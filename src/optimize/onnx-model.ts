import {open, readFile, stat} from 'node:fs/promises'
import onnxProto from 'onnx-proto'
import path from 'node:path'

import {ModelError} from '../errors.js'

/**
 * ONNX files through onnx-proto (protobufjs code generated from onnx.proto of ONNX 1.10, IR version 8). Fields that
 * later ONNX versions added (node and graph metadata_props, function overloads) are not carried over; nothing that
 * changes what a model computes is lost for the graphs mlship optimises, and every optimised model is run against
 * its source before it is written (the accuracy gate).
 */
export const {onnx} = onnxProto
export type ModelProto = onnxProto.onnx.IModelProto
export type GraphProto = onnxProto.onnx.IGraphProto
export type NodeProto = onnxProto.onnx.INodeProto
export type TensorProto = onnxProto.onnx.ITensorProto
export type AttributeProto = onnxProto.onnx.IAttributeProto

/** TensorProto.DataType values mlship reads or writes. */
export const DataType = {
  float: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  float16: 10,
  double: 11,
} as const

export const AttributeType = onnx.AttributeProto.AttributeType

// protobuf cannot encode a message of 2 GiB or more; larger models must keep their weights in external files.
const PROTOBUF_LIMIT = 2 ** 31 - 1

export interface LoadedOnnxModel {
  model: ModelProto
  /** Bytes of the model file plus those of its external data files. */
  sizeBytes: number
  /** External data files that were read into the model (relative to the model file). */
  externalFiles: string[]
}

/** Reads an ONNX model; weights in external data files are read into it, so the result is one self-contained model. */
export async function readOnnxModel(modelPath: string): Promise<LoadedOnnxModel> {
  const bytes = await readFile(modelPath)
  let model: ModelProto
  try {
    model = onnx.ModelProto.decode(bytes)
  } catch (error) {
    throw new ModelError(`${modelPath}: not an ONNX model, or a truncated one (${(error as Error).message})`, {
      code: 'MODEL_INVALID',
      details: {file: modelPath},
    })
  }
  if (!model.graph) {
    throw new ModelError(`${modelPath}: not an ONNX model (it has no graph)`, {
      code: 'MODEL_INVALID',
      details: {file: modelPath},
    })
  }
  const externalFiles = await inlineExternalData(model, modelPath)
  let sizeBytes = bytes.length
  for (const file of externalFiles) sizeBytes += (await stat(path.join(path.dirname(modelPath), file))).size
  return {externalFiles, model, sizeBytes}
}

/** Serialises a model; refuses what protobuf cannot hold rather than writing a broken file. */
export function encodeOnnxModel(model: ModelProto, where: string): Uint8Array {
  let size = 0
  for (const tensor of model.graph?.initializer ?? []) size += tensor.rawData?.length ?? 0
  if (size >= PROTOBUF_LIMIT) throw tooLarge(where, size)
  return onnx.ModelProto.encode(model).finish()
}

function tooLarge(where: string, bytes: number): ModelError {
  return new ModelError(
    `${where}: the weights take ${(bytes / 2 ** 30).toFixed(2)} GiB, more than one ONNX file can hold (2 GiB); ` +
      'mlship optimize writes self-contained model files and cannot optimise a model this large',
    {code: 'MODEL_TOO_LARGE', details: {bytes, file: where}},
  )
}

/**
 * Replaces every external-data reference (TensorProto.data_location = EXTERNAL) with the bytes it points at, read
 * from the file named by its `location`, at `offset` for `length` bytes, as the ONNX external data format says.
 */
async function inlineExternalData(model: ModelProto, modelPath: string): Promise<string[]> {
  const files = new Set<string>()
  const dir = path.dirname(modelPath)
  let total = 0
  for (const tensor of allTensors(model.graph!)) {
    if (tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue
    const entries = new Map((tensor.externalData ?? []).map((entry) => [entry.key ?? '', entry.value ?? '']))
    const location = entries.get('location')
    const resolved = location ? path.resolve(dir, location) : undefined
    if (!location || !resolved || path.relative(dir, resolved).startsWith('..')) {
      throw new ModelError(
        `${modelPath}: tensor "${tensor.name ?? ''}" has external data ${location ? `outside the model's folder (${location})` : 'without a location'}`,
        {code: 'MODEL_INVALID', details: {file: modelPath, tensor: tensor.name}},
      )
    }
    const offset = Number(entries.get('offset') ?? 0)
    const declared = entries.get('length')
    const handle = await open(resolved).catch(() => {
      throw new ModelError(
        `${modelPath}: tensor "${tensor.name ?? ''}" keeps its data in ${location}, which is missing beside the model`,
        {
          code: 'MODEL_NOT_FOUND',
          details: {file: resolved, tensor: tensor.name},
          suggestions: ['Copy the external data file(s) next to the model file, as they were when it was exported.'],
        },
      )
    })
    try {
      const length = declared === undefined ? (await handle.stat()).size - offset : Number(declared)
      total += length
      if (total >= PROTOBUF_LIMIT) throw tooLarge(modelPath, total)
      const data = new Uint8Array(length)
      const {bytesRead} = await handle.read(data, 0, length, offset)
      if (bytesRead !== length) {
        throw new ModelError(
          `${modelPath}: tensor "${tensor.name ?? ''}" wants ${length} bytes at offset ${offset} of ${location}, which is shorter`,
          {code: 'MODEL_INVALID', details: {file: resolved, tensor: tensor.name}},
        )
      }
      tensor.rawData = data
    } finally {
      await handle.close()
    }
    tensor.dataLocation = onnx.TensorProto.DataLocation.DEFAULT
    tensor.externalData = []
    files.add(location)
  }
  return [...files]
}

/** Every tensor a graph holds: initializers and the values of Constant nodes, in subgraphs too. */
function* allTensors(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer ?? []
  for (const node of graph.node ?? []) {
    for (const attribute of node.attribute ?? []) {
      if (attribute.t) yield attribute.t
      yield* attribute.tensors ?? []
      if (attribute.g) yield* allTensors(attribute.g)
      for (const sub of attribute.graphs ?? []) yield* allTensors(sub)
    }
  }
}

/** An int64 field as a number (protobufjs gives Long objects, from the untyped `long` package, for int64 fields). */
export function int64(value: unknown): number {
  if (value === null || value === undefined) return 0
  return typeof value === 'number' ? value : (value as {toNumber(): number}).toNumber()
}

export function dimsOf(tensor: TensorProto): number[] {
  return (tensor.dims ?? []).map((dim) => int64(dim))
}

export function elementCount(dims: readonly number[]): number {
  let count = 1
  for (const dim of dims) count *= dim
  return count
}

/** The values of a float32 tensor (raw little-endian bytes or float_data), copied into aligned storage. */
export function floatValues(tensor: TensorProto): Float32Array {
  if (tensor.dataType !== DataType.float) throw new Error(`tensor ${tensor.name ?? ''} is not float32`)
  if (tensor.rawData && tensor.rawData.length > 0) {
    const copy = new Uint8Array(tensor.rawData)
    return new Float32Array(copy.buffer, 0, copy.length / 4)
  }
  return Float32Array.from(tensor.floatData ?? [])
}

export function bytesOf(data: Float32Array | Int8Array | Uint8Array | Uint16Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

export function floatTensor(name: string, dims: readonly number[], data: Float32Array): TensorProto {
  return {dataType: DataType.float, dims: [...dims], name, rawData: bytesOf(data)}
}

export function int8Tensor(name: string, dims: readonly number[], data: Int8Array): TensorProto {
  return {dataType: DataType.int8, dims: [...dims], name, rawData: bytesOf(data)}
}

export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name)
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const found = attribute(node, name)
  return found ? int64(found.i) : fallback
}

export function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  const found = attribute(node, name)
  return found?.f ?? fallback
}

/** The version of the default ONNX operator set the model imports. */
export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')
  return int64(entry?.version)
}

/** Whether any node holds a subgraph (If, Loop, Scan). */
export function hasSubgraphs(graph: GraphProto): boolean {
  return (graph.node ?? []).some((node) => (node.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0))
}

/**
 * Gives every node a name that is unique in the graph (keeping the names that already are), so nodes can be found
 * again in the model onnxruntime writes back.
 */
export function nameNodes(graph: GraphProto): void {
  const seen = new Set<string>()
  for (const [index, node] of (graph.node ?? []).entries()) {
    let name = node.name ?? ''
    if (!name || seen.has(name)) {
      const base = `${node.opType ?? 'node'}_${index}`
      name = base
      for (let n = 1; seen.has(name); n++) name = `${base}_${n}`
      node.name = name
    }
    seen.add(name)
  }
}

/** A name not yet used by any value, initializer or node of the graph. */
export function uniqueNamer(graph: GraphProto): (wanted: string) => string {
  const used = new Set<string>()
  for (const tensor of graph.initializer ?? []) used.add(tensor.name ?? '')
  for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])])
    used.add(info.name ?? '')
  for (const node of graph.node ?? []) {
    used.add(node.name ?? '')
    for (const name of [...(node.input ?? []), ...(node.output ?? [])]) used.add(name)
  }
  return (wanted) => {
    let name = wanted
    for (let n = 1; used.has(name); n++) name = `${wanted}_${n}`
    used.add(name)
    return name
  }
}
