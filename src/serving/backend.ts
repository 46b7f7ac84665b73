import type {TensorMap} from './tensors.js'

/**
 * The one seam between the HTTP routes and onnxruntime. Routes call `run()` and nothing else; whatever stands between
 * (a dynamic batcher, a bounded admission queue, deadlines, a prediction cache, metrics) is a backend that wraps
 * another backend, so it can be added without touching the routes. See `StartServerOptions.wrapBackend`.
 */
export interface InferenceBackend {
  readonly info: BackendInfo
  /**
   * Runs one inference. Rejects with a RequestError for a request the server refuses (4xx/5xx with a message for
   * the caller), or any other error for a failure (500). `signal` aborts waiting for the answer (the inference
   * itself may still run to its end in its worker).
   */
  run(feeds: TensorMap, options?: RunOptions): Promise<TensorMap>
  /** Finishes the inferences in flight, then releases the workers and their sessions. */
  close(): Promise<void>
}

export interface RunOptions {
  signal?: AbortSignal
  /** Output names to compute; all of the model's outputs when undefined. */
  outputs?: readonly string[]
}

export interface BackendInfo {
  /** The execution provider the sessions really use. */
  executionProvider: 'cpu' | 'cuda'
  workers: number
  intraOpThreads: number
}
