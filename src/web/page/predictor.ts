/**
 * The model in the page: an onnxruntime-web session and the /predict contract around it. The request is checked by
 * the server's own decoder (same 400 messages), and the answer written by the server's own encoder (same JSON), so a
 * page and the server answer alike. Runs in a browser (predict.js) and in Node (the build's check, the unit tests),
 * with the onnxruntime-web module it is given.
 */
import type * as OrtWeb from 'onnxruntime-web'

import {decodeSeedBody} from '../../serving/decode.js'
import {fromOrtResults, toOrtFeeds} from '../../serving/ort-tensors.js'
import {RequestError} from '../../serving/request-error.js'
import {seedResponseJson} from '../../serving/responses.js'
import type {TensorMap} from '../../serving/tensors.js'
import type {RuntimeInfo, WebBackend, WebBundleConfig, WebPredictResponse} from '../config.js'

/** A refused or failed prediction: the status and body the server would have answered. */
export class PredictError extends Error {
  readonly status: number
  readonly body: {error: string}

  constructor(status: number, message: string) {
    super(message)
    this.name = 'PredictError'
    this.status = status
    this.body = {error: message}
  }
}

export interface PredictorOptions {
  /** The model's bytes (fetched beside predict.js in a page, read from disk in Node). */
  loadModel(): Promise<Uint8Array>
  /** The backend to try first; the bundle's own when absent. WebGPU falls back to WebAssembly, loudly. */
  backend?: WebBackend
  /** Whether this environment has WebGPU at all (navigator.gpu). */
  hasWebGpu: boolean
  crossOriginIsolated: boolean
  /** Threads to ask for; where the page is not cross-origin isolated, one whatever is asked. */
  threads: number
  /** Where the runtime's .mjs and .wasm files are (a URL ending in /); onnxruntime-web's own guess when absent. */
  wasmPaths?: string
  /** Told once when WebGPU was asked for and WebAssembly is used instead. */
  warn(message: string): void
  now(): number
}

export interface Predictor {
  readonly ready: Promise<RuntimeInfo>
  predict(body: unknown): Promise<WebPredictResponse>
}

export function createPredictor(ort: typeof OrtWeb, config: WebBundleConfig, options: PredictorOptions): Predictor {
  const limits = {maxBatchSize: config.maxBatchSize}
  let session: OrtWeb.InferenceSession | undefined
  // onnxruntime-web runs one inference of a session at a time: calls queue here instead of failing.
  let queue: Promise<unknown> = Promise.resolve()
  const runSerially = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.then(work, work)
    queue = result.catch(() => undefined)
    return result
  }

  const infer = async (feeds: TensorMap): Promise<TensorMap> => {
    const results = await runSerially(() => session!.run(toOrtFeeds(feeds, ort.Tensor)))
    return fromOrtResults(results)
  }

  const load = async (): Promise<RuntimeInfo> => {
    const started = options.now()
    const requestedBackend = options.backend ?? config.backend
    const threads = options.crossOriginIsolated ? Math.max(1, Math.floor(options.threads)) : 1
    ort.env.wasm.numThreads = threads
    if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths
    ort.env.logLevel = 'error'
    const model = await options.loadModel()
    const create = (backend: WebBackend) =>
      ort.InferenceSession.create(model, {executionProviders: [backend], graphOptimizationLevel: 'all'})

    let backend: WebBackend = 'wasm'
    let fallbackReason: string | null = null
    if (requestedBackend === 'webgpu') {
      if (options.hasWebGpu) {
        try {
          session = await create('webgpu')
          backend = 'webgpu'
        } catch (error) {
          fallbackReason = `WebGPU failed: ${firstLine(error)}`
        }
      } else {
        fallbackReason = 'this browser has no WebGPU (navigator.gpu is undefined)'
      }
      if (fallbackReason) options.warn(`mlship: ${fallbackReason}; running on WebAssembly (CPU) instead.`)
    }
    session ??= await create('wasm')
    const example = exampleBody(config)
    if (example !== undefined) await infer(decodeSeedBody(example, config.signature, limits))
    return {
      backend,
      crossOriginIsolated: options.crossOriginIsolated,
      fallbackReason,
      loadMs: round(options.now() - started),
      model: {name: config.name, version: config.version},
      onnxruntimeWeb: config.onnxruntimeWeb,
      requestedBackend,
      threads,
    }
  }

  const ready = load()
  // A page that never awaits `ready` still learns of a failed load through predict(); no unhandled rejection here.
  ready.catch(() => undefined)

  return {
    async predict(body: unknown): Promise<WebPredictResponse> {
      await ready
      const start = options.now()
      let feeds: TensorMap
      try {
        feeds = decodeSeedBody(body, config.signature, limits)
      } catch (error) {
        if (error instanceof RequestError) throw new PredictError(error.statusCode, error.message)
        throw error
      }
      let outputs: TensorMap
      try {
        outputs = await infer(feeds)
      } catch (error) {
        throw new PredictError(500, `internal error: ${firstLine(error)}`)
      }
      const json = seedResponseJson(outputs, config.signature, config.version, options.now() - start)
      return JSON.parse(json) as WebPredictResponse
    },
    ready,
  }
}

/** The /predict body of model.yaml's examples, when every input has one. */
export function exampleBody(config: Pick<WebBundleConfig, 'signature'>): unknown {
  const {inputs} = config.signature
  if (!inputs.every((input) => input.example !== undefined)) return undefined
  if (inputs.length === 1) return {features: inputs[0]!.example}
  return {inputs: Object.fromEntries(inputs.map((input) => [input.name, input.example]))}
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n').find((line) => line.trim() !== '') ?? message
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}
