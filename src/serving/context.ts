import type {ServingConfig, Signature} from '../config/schema.js'
import type {ResolvedModel} from '../model/load-model.js'
import type {InferenceBackend} from './backend.js'
import type {DecodeLimits} from './decode.js'
import type {InputPreprocessor} from './preprocessing.js'

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
}

export interface RoutePluginOptions {
  context: ServingContext
}
