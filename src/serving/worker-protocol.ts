import type {Device} from './device.js'
import type {TensorMap} from './tensors.js'

/** What the pool hands an inference worker when it starts it. */
export interface WorkerData {
  modelPath: string
  device: Device
  intraOpThreads: number
  /** The thread's nice value (default HELPER_THREAD_NICE; higher for an experiment's shadows). */
  nice?: number
}

export interface RunJob {
  id: number
  feeds: TensorMap
  outputs?: readonly string[]
}

/** A failed job says whether the values sent were at fault (onnxruntime refused them: 422) or the server (500). */
export type JobResult = {id: number; outputs: TensorMap} | {id: number; message: string; inputFault: boolean}

/** Several jobs travel in one message (see WorkerPool.flush); the worker runs them in order. */
export type WorkerRequest = {type: 'run'; jobs: RunJob[]}

export type WorkerReply = {type: 'ready'} | {type: 'failed'; message: string} | {type: 'results'; results: JobResult[]}
