/**
 * predict.js of the web bundle: an ES module that loads the model once and answers like POST /predict.
 *
 *   import {ready, predict} from './predict.js'
 *   await ready                                   // the runtime it got: backend, threads, load time
 *   const answer = await predict({features: [[5.1, 3.5, 1.4, 0.2]]})
 *
 * A model whose inputs declare `preprocess:` takes what /predict takes (data URLs, text) and, for an image, a File,
 * Blob, ArrayBuffer or a picture on the page (<img>, ImageBitmap, canvas, ImageData):
 *   await predict({features: fileInput.files[0]})   or   predict({inputs: {image: img, question: 'what is it?'}})
 *
 * `mlship build --target web` bundles it with esbuild: `onnxruntime-web` becomes the runtime file beside it
 * (./runtime/ort.*.min.mjs) and __MLSHIP_WEB_CONFIG__ the model's name, version and signature. The page's URL may
 * override the runtime for experiments: ?mlship-backend=wasm|webgpu, ?mlship-threads=N.
 */
import * as ort from 'onnxruntime-web'

import type {RuntimeInfo, WebBundleConfig, WebPredictResponse} from '../config.js'
import type {TensorMap} from '../../serving/tensors.js'
import {canvasImageDecoder, imageSourceBytes} from './browser-images.js'
import {pageGlobals} from './dom.js'
import {createPredictor, PredictError} from './predictor.js'

declare const __MLSHIP_WEB_CONFIG__: WebBundleConfig

const config = __MLSHIP_WEB_CONFIG__
const page = pageGlobals()
// A worker has no location: no overrides there.
const parameters = new URLSearchParams(page.location?.search ?? '')
const askedBackend = parameters.get('mlship-backend')
const askedThreads = Number(parameters.get('mlship-threads') ?? Number.NaN)
// onnxruntime-web's own default: half the cores, at most four (more rarely helps one small inference).
const defaultThreads = Math.min(4, Math.ceil((page.navigator?.hardwareConcurrency ?? 1) / 2))

const predictor = createPredictor(ort, config, {
  backend: askedBackend === 'wasm' || askedBackend === 'webgpu' ? askedBackend : undefined,
  crossOriginIsolated: page.crossOriginIsolated === true,
  hasWebGpu: page.navigator?.gpu !== undefined,
  imageBytes: (value) => imageSourceBytes(value, page),
  imageDecoder: canvasImageDecoder(page),
  async loadModel() {
    const url = new URL(config.modelFile, import.meta.url)
    let response: Response
    try {
      response = await fetch(url)
    } catch (error) {
      throw new Error(
        `cannot fetch the model ${url.href} (${String(error)}): serve this folder over HTTP (mlship serve --target web), a page opened from the disk cannot fetch it`,
        {cause: error},
      )
    }
    if (!response.ok) throw new Error(`cannot fetch the model ${url.href}: HTTP ${response.status}`)
    return new Uint8Array(await response.arrayBuffer())
  },
  async loadText(file) {
    const url = new URL(file, import.meta.url)
    const response = await fetch(url)
    if (!response.ok) throw new Error(`cannot fetch ${url.href}: HTTP ${response.status}`)
    return response.text()
  },
  now: () => performance.now(),
  threads: Number.isInteger(askedThreads) && askedThreads > 0 ? askedThreads : defaultThreads,
  warn: (message) => console.warn(message),
  wasmPaths: new URL('./runtime/', import.meta.url).href,
})

/** Resolves when the model is loaded and warmed up, with the runtime the page got; rejects if it cannot load. */
export const ready: Promise<RuntimeInfo> = predictor.ready

/** The /predict contract in the page: the same request, the same answer, the same 400 messages (PredictError). */
export function predict(body: unknown): Promise<WebPredictResponse> {
  return predictor.predict(body)
}

/** The tensors a request becomes in this page (images decoded and resized, texts tokenised), without the model. */
export function tensors(body: unknown): Promise<TensorMap> {
  return predictor.tensors(body)
}

/** The model this bundle carries. */
export const model = {
  description: config.description,
  name: config.name,
  signature: config.signature,
  version: config.version,
}

export {PredictError}
