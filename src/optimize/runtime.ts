import {mkdtemp, readFile, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'

import {errorMessage, ModelError} from '../errors.js'
import type {ExecutionProvider} from '../model/session.js'
import {DataType, encodeOnnxModel, type ModelProto, onnx} from './onnx-model.js'

/** onnxruntime's graph optimisation levels, as its session options name them. */
export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all'

export interface RuntimeOptions {
  device: ExecutionProvider
}

// onnxruntime-node's element type names, as TensorProto.DataType values (those the conversions need to tell apart).
const ELEMENT_TYPES: Readonly<Record<string, number>> = {
  bool: 9,
  float16: DataType.float16,
  float32: DataType.float,
  float64: DataType.double,
  int32: DataType.int32,
  int64: DataType.int64,
  int8: DataType.int8,
  uint8: DataType.uint8,
}

/**
 * Opens a session on a model (bytes or a file); a model onnxruntime refuses becomes a ModelError that says what was
 * being made.
 */
export async function createSession(
  model: Uint8Array | string,
  options: RuntimeOptions & {level?: OptimizationLevel; savePath?: string; intraOpThreads?: number; what: string},
): Promise<ort.InferenceSession> {
  const settings: ort.InferenceSession.SessionOptions = {
    executionProviders: [options.device],
    graphOptimizationLevel: options.level ?? 'all',
    interOpNumThreads: 1,
    intraOpNumThreads: options.intraOpThreads ?? 1,
    logSeverityLevel: 3,
    ...(options.savePath ? {optimizedModelFilePath: options.savePath} : {}),
  }
  try {
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, settings)
      : await ort.InferenceSession.create(model, settings)
  } catch (error) {
    throw new ModelError(`onnxruntime cannot load ${options.what}: ${firstLine(errorMessage(error))}`, {
      cause: error,
      code: 'OPTIMIZE_FAILED',
      suggestions: ['Try another --method; please report the model that failed (DEBUG=mlship:* shows more).'],
    })
  }
}

function firstLine(message: string): string {
  return message.split('\n').find((line) => line.trim().length > 0) ?? message
}

/**
 * The model as onnxruntime writes it back after loading it for `device` at `level`: with level 'disabled' that is
 * the graph after only the transformations onnxruntime cannot skip (among them the casts it inserts around nodes
 * the provider has no kernel for at the model's element type); at higher levels its offline-optimised graph.
 */
export async function savedByRuntime(
  bytes: Uint8Array,
  options: RuntimeOptions & {level: OptimizationLevel; what: string},
): Promise<Uint8Array> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-optimize-'))
  const savePath = path.join(dir, 'model.onnx')
  try {
    const session = await createSession(bytes, {...options, savePath})
    await session.release()
    return await readFile(savePath)
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
}

/**
 * The element type (TensorProto.DataType) of every value of the main graph, as onnxruntime infers it: every node
 * output is made a graph output of a copy of the model, whose session then reports its type. Graph inputs and
 * initializers carry their types in the file.
 */
export async function valueElementTypes(model: ModelProto, options: RuntimeOptions): Promise<Map<string, number>> {
  const graph = model.graph!
  const types = new Map<string, number>()
  for (const info of graph.input ?? []) types.set(info.name ?? '', info.type?.tensorType?.elemType ?? 0)
  for (const tensor of graph.initializer ?? []) types.set(tensor.name ?? '', tensor.dataType ?? 0)
  const outputs = new Set((graph.output ?? []).map((output) => output.name ?? ''))
  const extra = [...new Set((graph.node ?? []).flatMap((node) => node.output ?? []))].filter(
    (name) => name && !outputs.has(name) && !types.has(name),
  )
  const probe = onnx.ModelProto.create({
    ...model,
    graph: {...graph, output: [...(graph.output ?? []), ...extra.map((name) => ({name}))]},
  })
  const session = await createSession(encodeOnnxModel(probe, 'the model'), {
    ...options,
    level: 'disabled',
    what: 'the model with its intermediate values exposed',
  })
  try {
    for (const meta of session.outputMetadata as Array<{name: string; isTensor: boolean; type?: string}>)
      types.set(meta.name, meta.isTensor && meta.type ? (ELEMENT_TYPES[meta.type] ?? -1) : -1)
  } finally {
    await session.release()
  }
  return types
}
