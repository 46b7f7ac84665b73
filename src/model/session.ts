import {stat} from 'node:fs/promises'
import type * as ort from 'onnxruntime-node'

import {errorMessage, ModelError} from '../errors.js'
import {loadOnnxruntime} from './onnxruntime-loader.js'
import {keepOnnxruntimeTelemetryOff} from './telemetry.js'

export type ExecutionProvider = 'cpu' | 'cuda'

export interface OpenSessionOptions {
  intraOpNumThreads?: number
  interOpNumThreads?: number
  executionProviders?: ExecutionProvider[]
}

/**
 * Opens an onnxruntime session (telemetry off, see telemetry.ts) and turns every way a model file can be wrong into a
 * one-line ModelError that names the file and the cause. A session is expensive and releasing sessions leaks memory in
 * onnxruntime (#25325): callers open one per worker and keep it.
 */
export async function openSession(modelPath: string, options: OpenSessionOptions = {}): Promise<ort.InferenceSession> {
  await assertModelFile(modelPath)
  keepOnnxruntimeTelemetryOff()
  const {InferenceSession} = await onnxruntime()
  try {
    return await InferenceSession.create(modelPath, {
      executionProviders: options.executionProviders ?? ['cpu'],
      graphOptimizationLevel: 'all',
      interOpNumThreads: options.interOpNumThreads ?? 1,
      intraOpNumThreads: options.intraOpNumThreads ?? 1,
      logSeverityLevel: 3,
    })
  } catch (error) {
    throw new ModelError(`${modelPath}: ${describeLoadFailure(errorMessage(error), modelPath)}`, {
      cause: error,
      code: 'MODEL_LOAD_FAILED',
      details: {file: modelPath},
      suggestions: [
        'Check that the file is a complete ONNX model exported for an opset this onnxruntime supports (onnxruntime-node ' +
          (await ortVersion()) +
          ').',
      ],
    })
  }
}

async function assertModelFile(modelPath: string): Promise<void> {
  let info
  try {
    info = await stat(modelPath)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new ModelError(`${modelPath}: ${code === 'ENOENT' ? 'no such file' : errorMessage(error)}`, {
      code: 'MODEL_NOT_FOUND',
      details: {file: modelPath},
      suggestions: ['Check model.file in model.yaml: it is relative to the directory of model.yaml.'],
    })
  }
  if (info.isDirectory()) {
    throw new ModelError(`${modelPath}: is a directory, not an ONNX model file`, {
      code: 'MODEL_NOT_FOUND',
      details: {file: modelPath},
    })
  }
  if (info.size === 0) {
    throw new ModelError(`${modelPath}: the file is empty, not an ONNX model`, {
      code: 'MODEL_INVALID',
      details: {file: modelPath},
    })
  }
}

function describeLoadFailure(message: string, modelPath: string): string {
  if (/protobuf parsing failed/i.test(message)) return 'not an ONNX model, or a truncated one (protobuf parsing failed)'
  if (/does not have a graph/i.test(message)) return 'not an ONNX model (it has no graph)'
  // onnxruntime prefixes its own source location and repeats the path: keep the cause alone, on one line.
  const cause = message
    .replace(`Load model from ${modelPath} failed:`, '')
    .replace(/\/onnxruntime_src\/\S+ /g, '')
    .replace(/onnxruntime::\S+\([^)]*\)\s*/g, '')
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line.length > 0)
  return `onnxruntime cannot load it: ${cause ?? message}`
}

/** onnxruntime-node, loaded when the first model is opened (onnxruntime-loader.ts). */
export async function onnxruntime(): Promise<typeof ort> {
  return loadOnnxruntime()
}

export async function ortVersion(): Promise<string> {
  const {env} = await onnxruntime()
  return env.versions?.node ?? env.versions?.common ?? 'unknown'
}
