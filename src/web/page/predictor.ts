/**
 * The model in the page: an onnxruntime-web session and the /predict contract around it. The request is checked by
 * the server's own decoder (same 400 messages), and the answer written by the server's own encoder (same JSON), so a
 * page and the server answer alike. Runs in a browser (predict.js) and in Node (the build's check, the unit tests),
 * with the onnxruntime-web module it is given.
 */
import type * as OrtWeb from 'onnxruntime-web'

import type {ImageDecoder} from '../../preprocess/image-decode.js'
import {planPreprocessing, type PreprocessPlan} from '../../preprocess/plan.js'
import type {TextEncoder} from '../../preprocess/text.js'
import {decodeSeedBody} from '../../serving/decode.js'
import {fromOrtResults, toOrtFeeds} from '../../serving/ort-tensors.js'
import {InputPreprocessor} from '../../serving/preprocessing.js'
import {splitSeedBody} from '../../serving/raw-inputs.js'
import {RequestError} from '../../serving/request-error.js'
import {seedResponseJson} from '../../serving/responses.js'
import type {TensorMap} from '../../serving/tensors.js'
import {warmUpFeeds} from '../../serving/warm-up.js'
import {resolveImageSources} from './browser-images.js'
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
  /** Decodes the images of image inputs (the canvas in a page); a request with an image fails without it. */
  imageDecoder?: ImageDecoder
  /** Turns what a page passes for an image (a File, an <img>...) into bytes; strings and bytes only without it. */
  imageBytes?: (value: unknown) => Promise<unknown>
  /** Reads a file of the bundle (a tokenizer.json), by its path relative to predict.js. */
  loadText?(file: string): Promise<string>
}

export interface Predictor {
  readonly ready: Promise<RuntimeInfo>
  predict(body: unknown): Promise<WebPredictResponse>
  /** The tensors a request becomes (images decoded and resized, texts tokenised), without running the model. */
  tensors(body: unknown): Promise<TensorMap>
}

export function createPredictor(ort: typeof OrtWeb, config: WebBundleConfig, options: PredictorOptions): Predictor {
  const limits = {maxBatchSize: config.maxBatchSize}
  const plan = planPreprocessing(config.signature)
  let preprocessor: InputPreprocessor | undefined
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
    if (plan) preprocessor = await openPreprocessor(plan, config, limits, options)
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
    // The server's warm-up: model.yaml's examples where every input has one, zeros of the input shapes otherwise.
    await infer(warmUpFeeds({signature: config.signature}))
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
      const feeds = await requestFeeds(body)
      let outputs: TensorMap
      try {
        outputs = await infer(feeds)
      } catch (error) {
        throw new PredictError(500, `internal error: ${firstLine(error)}`)
      }
      const json = seedResponseJson(
        outputs,
        config.signature,
        config.version,
        options.now() - start,
        preprocessor?.plan.postprocess,
      )
      return JSON.parse(json) as WebPredictResponse
    },
    ready,
    async tensors(body: unknown): Promise<TensorMap> {
      await ready
      return requestFeeds(body)
    },
  }

  /** The request's tensors, as the server makes them: images and texts through the preprocessor, the rest decoded. */
  async function requestFeeds(body: unknown): Promise<TensorMap> {
    try {
      if (!preprocessor) return decodeSeedBody(body, config.signature, limits)
      const {imageBytes} = options
      const prepared = imageBytes ? await resolveImageSources(body, preprocessor.plan, (v) => imageBytes(v)) : body
      const {raw, tensorBody} = splitSeedBody(prepared, preprocessor.plan)
      const tensors =
        tensorBody === undefined
          ? {}
          : decodeSeedBody(tensorBody, preprocessor.tensorSignature(config.signature), limits)
      return {...tensors, ...(await preprocessor.feeds(raw))}
    } catch (error) {
      if (error instanceof RequestError) throw new PredictError(error.statusCode, error.message)
      throw error
    }
  }
}

/** The preprocessor of the page: the image decoder it was given, a text encoder per tokenizer file of the bundle. */
async function openPreprocessor(
  plan: PreprocessPlan,
  config: WebBundleConfig,
  limits: {maxBatchSize: number},
  options: PredictorOptions,
): Promise<InputPreprocessor> {
  const encoders = new Map<string, TextEncoder>()
  // @huggingface/tokenizers loads only for a model with text inputs (the build and the CLI's start-up need it not).
  const {TextEncoder: Encoder} =
    plan.texts.length > 0 ? await import('../../preprocess/text.js') : {TextEncoder: undefined}
  for (const text of plan.texts) {
    const files = config.tokenizers?.[text.input]
    if (!files || !options.loadText)
      throw new Error(`input "${text.input}" takes text, and this bundle has no tokenizer for it: build it again`)
    const json = JSON.parse(await options.loadText(files.json)) as Record<string, unknown>
    const tokenizerConfig = files.config
      ? (JSON.parse(await options.loadText(files.config)) as Record<string, unknown>)
      : {}
    encoders.set(text.input, new Encoder!({config: tokenizerConfig, json}, text))
  }
  return new InputPreprocessor(plan, limits, options.imageDecoder, encoders)
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
