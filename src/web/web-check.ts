import {readFile} from 'node:fs/promises'
import {performance} from 'node:perf_hooks'

import {errorMessage, ExitCode, MlshipError} from '../errors.js'
import type {WebBundleConfig} from './config.js'
import {createPredictor} from './page/predictor.js'

export interface WebCheckResult {
  /** Load and warm-up time in onnxruntime-web's WebAssembly runtime here, one thread, ms. */
  loadMs: number
}

/** What a failed load says about the cause: the operator onnxruntime-web has no kernel for, where it says so. */
export interface WebLoadFailure {
  operator?: string
  opset?: number
  node?: string
  message: string
}

/**
 * Loads the model once in onnxruntime-web's own WebAssembly runtime (the same .wasm the bundle ships, run by Node)
 * and runs the example through the page's predictor: a model the browser cannot run is refused at build time, with
 * the operator named, rather than in a user's browser.
 */
export async function checkWebRuntime(options: {
  config: WebBundleConfig
  modelPath: string
  /** Reads a file of the bundle (its tokenizers) by its path in the bundle. */
  loadText?: (file: string) => Promise<string>
}): Promise<WebCheckResult> {
  const ort = await import('onnxruntime-web')
  const predictor = createPredictor(ort, options.config, {
    backend: 'wasm',
    crossOriginIsolated: false,
    hasWebGpu: false,
    loadModel: async () => new Uint8Array(await readFile(options.modelPath)),
    loadText: options.loadText,
    now: () => performance.now(),
    threads: 1,
    warn: () => undefined,
  })
  try {
    const info = await predictor.ready
    return {loadMs: info.loadMs}
  } catch (error) {
    const failure = describeWebLoadFailure(errorMessage(error))
    const runtime = `onnxruntime-web ${options.config.onnxruntimeWeb}`
    if (failure.operator) {
      throw new MlshipError(
        `${options.modelPath}: ${runtime} cannot run operator ${failure.operator} (opset ${failure.opset ?? '?'})` +
          `${failure.node ? ` of node "${failure.node}"` : ''} with the types it is given, so the model cannot run in a browser.`,
        {
          cause: error,
          code: 'WEB_UNSUPPORTED_OPERATOR',
          details: {file: options.modelPath, node: failure.node, operator: failure.operator, opset: failure.opset},
          exitCode: ExitCode.usage,
          suggestions: [
            `Export the model without ${failure.operator} (or with other input types for it), or serve it from a server: mlship build (a container) or --target node.`,
          ],
        },
      )
    }
    throw new MlshipError(`${options.modelPath}: ${runtime} cannot run the model: ${failure.message}`, {
      cause: error,
      code: 'WEB_MODEL_UNSUPPORTED',
      details: {file: options.modelPath},
      exitCode: ExitCode.usage,
      suggestions: ['Serve it from a server instead: mlship build (a container) or mlship build --target node.'],
    })
  }
}

/**
 * Reads onnxruntime's load errors: "Could not find an implementation for Add(14) node with name 'add'" (an operator or
 * an operator-type pair without a kernel) and "Failed to find kernel for com.microsoft.X(1) (node:'x' ...)".
 */
export function describeWebLoadFailure(raw: string): WebLoadFailure {
  const message = raw
    .replace(/^Can't create a session\. ERROR_CODE: \d+, ERROR_MESSAGE: /, '')
    .split('\n')[0]!
    .trim()
  const notImplemented = /Could not find an implementation for ([\w.]+)\((\d+)\) node with name '([^']*)'/.exec(message)
  const noKernel = /Failed to find kernel for ([\w.]+)\((\d+)\) \(node:'([^']*)'/.exec(message)
  const match = notImplemented ?? noKernel
  if (!match) return {message}
  return {message, node: match[3] || undefined, operator: match[1]!, opset: Number(match[2])}
}
