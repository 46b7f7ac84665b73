import type {Signature} from '../config/schema.js'

/*
 * What the web bundle knows about its model, written into predict.js at build time, and what predict.js tells its
 * page about the runtime it got. Shared by the build (Node) and the browser code: types only.
 */

/** The runtime flavours a bundle can carry: WebAssembly alone, or WebGPU (with WebAssembly as its fallback). */
export type WebBackend = 'wasm' | 'webgpu'

export interface WebBundleConfig {
  name: string
  version: string
  description?: string
  signature: Signature
  /** serving.max_batch_size: the browser refuses larger batches with the server's message. */
  maxBatchSize: number
  /** The model file, relative to predict.js. */
  modelFile: string
  /** What the bundle carries: 'webgpu' bundles try WebGPU first and fall back to WebAssembly, loudly. */
  backend: WebBackend
  onnxruntimeWeb: string
  /** The tokenizer files of each text input, relative to predict.js (tokenizer_config.json where the model has one). */
  tokenizers?: Record<string, {json: string; config?: string}>
}

/** What `ready` resolves to: the runtime the page really got. */
export interface RuntimeInfo {
  /** The execution provider in use. */
  backend: WebBackend
  /** The one the bundle asked for (differs from backend after a fallback). */
  requestedBackend: WebBackend
  /** Why WebGPU was not used, when it was asked for and is not in use. */
  fallbackReason: string | null
  /** WebAssembly threads: more than one only where the page is cross-origin isolated. */
  threads: number
  crossOriginIsolated: boolean
  /** From the start of loading to a warmed-up session (model fetched, session created, one inference run), ms. */
  loadMs: number
  onnxruntimeWeb: string
  model: {name: string; version: string}
}

/** The answer of POST /predict, as predict() resolves it. */
export interface WebPredictResponse {
  predictions: unknown
  labels?: string[]
  outputs?: Record<string, unknown>
  model_version: string
  latency_ms: number
}
