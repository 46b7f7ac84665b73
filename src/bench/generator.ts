import type {Worker} from 'node:worker_threads'

import {MlshipError} from '../errors.js'
import type {LoadStepOptions, RawStepResult, StepProgress} from './load-step.js'
import type {WorkerRequest} from './load-worker.js'
import {type Slo, type StepResult, toStepResult} from './step-result.js'
import {siblingModule, startModuleWorker} from '../worker-thread.js'

type WorkerReply =
  | {type: 'progress'; id: number; progress: StepProgress}
  | {type: 'result'; id: number; result: RawStepResult}
  | {type: 'error'; id: number; error: string}

/**
 * The load generator, running in a worker thread of its own. One step at a time; `close()` ends the thread.
 */
export class LoadGenerator {
  private readonly worker: Worker
  private nextId = 1
  private failure: Error | undefined
  private closed = false

  private constructor(worker: Worker) {
    this.worker = worker
    this.worker.on('error', (error) => {
      this.failure = error
    })
  }

  static start(): LoadGenerator {
    return new LoadGenerator(startModuleWorker(siblingModule(import.meta.url, 'load-worker')))
  }

  async step(options: LoadStepOptions, slo: Slo, onProgress?: (progress: StepProgress) => void): Promise<StepResult> {
    if (this.failure) throw this.failure
    if (this.closed) throw new MlshipError('The load generator was stopped', {code: 'BENCH_GENERATOR_STOPPED'})
    const id = this.nextId++
    const raw = await new Promise<RawStepResult>((resolve, reject) => {
      const onMessage = (reply: WorkerReply) => {
        if (reply.id !== id) return
        if (reply.type === 'progress') {
          onProgress?.(reply.progress)
          return
        }
        cleanup()
        if (reply.type === 'result') resolve(reply.result)
        else reject(new MlshipError(`The load generator failed: ${reply.error}`, {code: 'BENCH_GENERATOR_FAILED'}))
      }
      const onError = (error: Error) => {
        cleanup()
        reject(error)
      }
      const onExit = (code: number) => {
        cleanup()
        reject(
          new MlshipError(`The load generator thread exited (code ${code}) during a step`, {
            code: 'BENCH_GENERATOR_FAILED',
          }),
        )
      }
      const cleanup = () => {
        this.worker.off('message', onMessage)
        this.worker.off('error', onError)
        this.worker.off('exit', onExit)
      }
      this.worker.on('message', onMessage)
      this.worker.on('error', onError)
      this.worker.on('exit', onExit)
      this.worker.postMessage({id, options, type: 'step'} satisfies WorkerRequest)
    })
    return toStepResult(raw, slo)
  }

  async close(): Promise<void> {
    this.closed = true
    await this.worker.terminate()
  }
}
