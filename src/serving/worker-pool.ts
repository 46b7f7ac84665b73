import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {Worker} from 'node:worker_threads'

import {ExitCode, MlshipError, ModelError} from '../errors.js'
import {startModuleWorker} from '../worker-thread.js'
import type {BackendInfo, InferenceBackend, RunOptions} from './backend.js'
import type {Device} from './device.js'
import {runFailure} from './inference-errors.js'
import {RequestError} from './request-error.js'
import {type TensorMap, transferList} from './tensors.js'
import type {RunJob, WorkerData, WorkerReply, WorkerRequest} from './worker-protocol.js'

export interface WorkerPoolOptions {
  modelPath: string
  workers: number
  intraOpThreads: number
  device: Device
  /**
   * The nice value of the worker threads: default HELPER_THREAD_NICE (below the HTTP thread); an experiment's shadows
   * run at 19, below the variants that answer.
   */
  nice?: number
  /** Where the worker script is; found beside this module by default (see inferenceWorkerUrl). */
  workerUrl?: URL
  /** Told when a worker dies and is replaced. */
  onWorkerExit?: (info: {worker: number; exitCode: number; error?: string}) => void
}

interface Job {
  resolve: (outputs: TensorMap) => void
  reject: (error: Error) => void
}

interface Slot {
  index: number
  worker: Worker
  jobs: Map<number, Job>
  pending: RunJob[]
  flushScheduled: boolean
}

/** Below this size a buffer is cheaper to copy than to transfer. */
const TRANSFER_MIN_BYTES = 64 * 1024

/**
 * The worker script, in each of the three ways mlship runs: compiled beside this file (dist/ or an esbuild bundle
 * that has inference-worker.js next to the server), or as TypeScript from src/ (tsx, vitest).
 */
export function inferenceWorkerUrl(base: string | URL = import.meta.url): URL {
  const js = new URL('./inference-worker.js', base)
  if (existsSync(fileURLToPath(js))) return js
  const ts = new URL('./inference-worker.ts', base)
  if (existsSync(fileURLToPath(ts))) return ts
  throw new MlshipError(`the inference worker script is missing: ${fileURLToPath(js)}`, {
    code: 'WORKER_MISSING',
    exitCode: ExitCode.unexpected,
    suggestions: ['Bundle src/serving/inference-worker.ts beside the server (see src/serving/entrypoints.ts).'],
  })
}

/**
 * A fixed set of inference worker threads, each holding one session of the model for its whole life. A request goes
 * to the worker with the fewest requests outstanding; a worker runs them one at a time. A worker that dies fails only
 * the requests it held and is replaced at once.
 */
export class WorkerPool implements InferenceBackend {
  readonly info: BackendInfo
  private readonly options: WorkerPoolOptions
  private readonly url: URL
  private readonly slots: Slot[] = []
  private nextId = 1
  private closing = false
  private drained?: () => void

  private constructor(options: WorkerPoolOptions) {
    this.options = options
    this.url = options.workerUrl ?? inferenceWorkerUrl()
    this.info = {executionProvider: options.device, intraOpThreads: options.intraOpThreads, workers: options.workers}
  }

  /** Starts the workers and resolves once every one has its session open; rejects with the first load failure. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options)
    // Every worker settles (loaded or failed) before any is terminated: killing a thread inside onnxruntime aborts
    // the process.
    const started = await Promise.allSettled(Array.from({length: options.workers}, (_, index) => pool.spawn(index)))
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed) {
      await pool.terminateAll()
      throw failed.reason
    }
    return pool
  }

  get inFlight(): number {
    let n = 0
    for (const slot of this.slots) n += slot.jobs.size
    return n
  }

  run(feeds: TensorMap, options: RunOptions = {}): Promise<TensorMap> {
    if (this.closing) return Promise.reject(new RequestError(503, 'the server is shutting down', {'retry-after': '1'}))
    let slot = this.slots[0]!
    for (let i = 1; i < this.slots.length; i++) if (this.slots[i]!.jobs.size < slot.jobs.size) slot = this.slots[i]!
    const id = this.nextId++
    return new Promise<TensorMap>((resolve, reject) => {
      const {signal} = options
      let onAbort: (() => void) | undefined
      if (signal) {
        if (signal.aborted) {
          reject(abortError(signal))
          return
        }
        onAbort = () => reject(abortError(signal))
        signal.addEventListener('abort', onAbort, {once: true})
      }
      slot.jobs.set(id, {
        reject: (error) => {
          if (onAbort) signal!.removeEventListener('abort', onAbort)
          reject(error)
        },
        resolve: (outputs) => {
          if (onAbort) signal!.removeEventListener('abort', onAbort)
          resolve(outputs)
        },
      })
      const idle = slot.jobs.size === 1 && slot.pending.length === 0
      slot.pending.push({feeds, id, outputs: options.outputs})
      // An idle worker gets the job at once; a busy one gets what piles up meanwhile in one message.
      if (idle) this.flush(slot)
      else if (!slot.flushScheduled) {
        slot.flushScheduled = true
        setImmediate(() => {
          slot.flushScheduled = false
          this.flush(slot)
        })
      }
    })
  }

  /** Waits for every request in flight first: terminating a thread inside onnxruntime's run aborts the process. */
  async close(): Promise<void> {
    this.closing = true
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve))
    await this.terminateAll()
  }

  private async terminateAll(): Promise<void> {
    this.closing = true
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()))
  }

  private spawn(index: number, replacing = false): Promise<void> {
    const data: WorkerData = {
      device: this.options.device,
      intraOpThreads: this.options.intraOpThreads,
      modelPath: this.options.modelPath,
      ...(this.options.nice === undefined ? {} : {nice: this.options.nice}),
    }
    const worker = startModuleWorker(this.url, {name: `mlship-inference-${index}`, workerData: data})
    const slot: Slot = {flushScheduled: false, index, jobs: new Map(), pending: [], worker}
    this.slots[index] = slot
    return new Promise<void>((resolve, reject) => {
      let ready = false
      let lastError: string | undefined
      worker.on('message', (reply: WorkerReply) => {
        switch (reply.type) {
          case 'ready':
            ready = true
            resolve()
            break
          case 'failed':
            reject(new ModelError(reply.message, {code: 'MODEL_LOAD_FAILED'}))
            break
          case 'results':
            for (const result of reply.results) {
              if ('outputs' in result) this.settle(slot, result.id, (job) => job.resolve(result.outputs))
              else this.settle(slot, result.id, (job) => job.reject(runFailure(result)))
            }
            break
        }
      })
      worker.on('error', (error) => {
        lastError = error.message
        if (!ready)
          reject(
            new MlshipError(`inference worker ${index} failed to start: ${error.message}`, {
              cause: error,
              code: 'WORKER_FAILED',
            }),
          )
      })
      worker.on('exit', (exitCode) => {
        // Whatever this worker held (or had queued before it was ready) fails; nothing waits forever.
        const jobs = [...slot.jobs.values()]
        slot.jobs.clear()
        slot.pending = []
        for (const job of jobs)
          job.reject(new Error(`the inference worker stopped unexpectedly${lastError ? `: ${lastError}` : ''}`))
        this.checkDrained()
        if (!ready)
          reject(
            new MlshipError(
              `inference worker ${index} exited (code ${exitCode}) before its model was loaded${lastError ? `: ${lastError}` : ''}`,
              {code: 'WORKER_FAILED'},
            ),
          )
        if (this.closing || (!ready && !replacing)) return
        this.options.onWorkerExit?.({error: lastError, exitCode, worker: index})
        // Replace it so the server keeps serving; requests sent meanwhile queue in the new worker's port. A
        // replacement that fails to start is tried again a second later.
        const retry = () => {
          if (this.closing) return
          this.spawn(index, true).catch(() => setTimeout(retry, 1000).unref())
        }
        if (ready) retry()
        else setTimeout(retry, 1000).unref()
      })
    })
  }

  /**
   * Sends what arrived during one turn of the event loop as one message: a message to a thread costs tens of
   * microseconds, as much as a small model's whole inference, so under load many requests share one.
   */
  private flush(slot: Slot): void {
    const jobs = slot.pending
    if (jobs.length === 0) return
    slot.pending = []
    const message: WorkerRequest = {jobs, type: 'run'}
    const transfer: ArrayBuffer[] = []
    for (const job of jobs) transfer.push(...transferList(job.feeds, TRANSFER_MIN_BYTES))
    try {
      slot.worker.postMessage(message, transfer)
    } catch {
      slot.worker.postMessage(message)
    }
  }

  private settle(slot: Slot, id: number, action: (job: Job) => void): void {
    const job = slot.jobs.get(id)
    if (!job) return
    slot.jobs.delete(id)
    action(job)
    this.checkDrained()
  }

  private checkDrained(): void {
    if (this.drained && this.inFlight === 0) {
      this.drained()
      this.drained = undefined
    }
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new RequestError(504, 'the request was aborted before the inference finished')
}
