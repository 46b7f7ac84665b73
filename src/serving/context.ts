import type {IncomingHttpHeaders} from 'node:http'

import type {ServingConfig, Signature} from '../config/schema.js'
import type {ResolvedModel} from '../model/load-model.js'
import type {InferenceBackend, RunOptions} from './backend.js'
import type {DecodeLimits} from './decode.js'
import type {InputPreprocessor} from './preprocessing.js'
import type {TensorMap} from './tensors.js'

/** The header of every answer of an experiment that says which variant answered; a request's own forces one. */
export const VARIANT_HEADER = 'x-mlship-variant'

/** The serving settings in force: model.yaml's `serving`, with the overrides of the caller applied. */
export interface ServingSettings {
  workers: number
  intraOpThreads: number
  maxBatchSize: number
  bodyLimitBytes: number
  bodyTimeoutMs: number
  /** Where the server may write (the prediction log): MLSHIP_DATA_DIR, else the model directory. */
  dataDir: string
  requestTimeoutMs: number
  logLevel: ServingConfig['log_level']
  /** Successful-request log lines per second and process at most; 'all' logs every one. Default 200. */
  requestLogPerSecond?: number | 'all'
  /** The CPUs this process may use (usableCpus), as the settings were resolved with; undefined: not known yet. */
  cpus?: number
}

export type ServerPhase = 'starting' | 'ready' | 'draining'

/**
 * Everything a route plugin needs, handed to each one as its `context` option: the model, the settings, the
 * inference backend (the seam: see backend.ts) and the server's phase.
 */
export interface ServingContext {
  project: ResolvedModel
  signature: Signature
  modelName: string
  modelVersion: string
  settings: ServingSettings
  backend: InferenceBackend
  limits: DecodeLimits
  outputNames: string[]
  state: {phase: ServerPhase}
  /** Images and texts -> tensors, classes of outputs: present when model.yaml declares preprocess: or postprocess:. */
  preprocessor?: InputPreprocessor
  /** Who answers an inference request, under model.yaml's `experiment:` (serving/experiment/); else the backend. */
  router?: InferenceRouter
}

/** Picks the variant of an experiment that answers an inference request. */
export interface InferenceRouter {
  /**
   * Called before the body is decoded (a body field may be the sticky key); throws a RequestError (400) for a
   * request that forces a variant that does not exist.
   */
  assign(request: RoutedRequest): RoutedInference
}

export interface RoutedRequest {
  /** The request id (x-request-id): the id POST /feedback names. */
  id: string
  headers: IncomingHttpHeaders
  body: unknown
  /** The id of a v2 request's body, where it has one: feedback may name it too. */
  bodyId?: string
}

/** The variant chosen for one request: its name and version, and its inference. */
export interface RoutedInference {
  variant: string
  modelVersion: string
  run(feeds: TensorMap, options?: RunOptions): Promise<TensorMap>
}

export interface RoutePluginOptions {
  context: ServingContext
}
