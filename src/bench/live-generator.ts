import type {Worker} from 'node:worker_threads'

import {MlshipError} from '../errors.js'
import {siblingModule, startModuleWorker} from '../worker-thread.js'
import type {LiveLoadOptions, LiveSegment, LiveWindow} from './live-load.js'
import type {LiveWorkerReply, LiveWorkerRequest} from './live-worker.js'

export interface LiveGeneratorHooks {
  onWindow(window: LiveWindow): void
  /** Segments measured live (not those of `step()`, which it resolves with). */
  onSegment(segment: LiveSegment): void
  /** The generator thread failed; the load has stopped. */
  onFailure(error: Error): void
}

/**
 * The live load of `bench --ui`, in a worker thread of its own: a rate and a target that change at once, without
 * restarting anything. `step()` measures one segment at a rate, as a sweep needs.
 */
export class LiveLoadGenerator {
  private nextStepId = 1
  private readonly steps = new Map<number, {resolve: (segment: LiveSegment) => void; reject: (e: Error) => void}>()
  private stopping: Promise<void> | undefined
  private failure: Error | undefined

  private constructor(
    private readonly worker: Worker,
    private readonly hooks: LiveGeneratorHooks,
  ) {
    worker.on('message', (reply: LiveWorkerReply) => this.receive(reply))
    worker.on('error', (error) => this.fail(error))
    worker.on('exit', (code) => {
      if (!this.stopping)
        this.fail(new MlshipError(`The load generator thread exited (code ${code})`, {code: 'BENCH_GENERATOR_FAILED'}))
    })
  }

  static start(options: LiveLoadOptions, hooks: LiveGeneratorHooks): LiveLoadGenerator {
    const generator = new LiveLoadGenerator(startModuleWorker(siblingModule(import.meta.url, 'live-worker')), hooks)
    generator.post({options, type: 'start'})
    return generator
  }

  setRate(rate: number): void {
    this.post({rate, step: null, type: 'rate'})
  }

  setTarget(url: string, target: string | null): void {
    this.post({target, type: 'target', url})
  }

  /** Offers `rate` for a warm-up and then `durationMs` measured, then sets `thenRate`; resolves with that segment. */
  async step(rate: number, durationMs: number, thenRate: number): Promise<LiveSegment> {
    if (this.failure) throw this.failure
    if (this.stopping) throw new MlshipError('The load generator was stopped', {code: 'BENCH_GENERATOR_STOPPED'})
    const id = this.nextStepId++
    const measured = new Promise<LiveSegment>((resolve, reject) => this.steps.set(id, {reject, resolve}))
    this.post({rate, step: {durationMs, id, thenRate}, type: 'rate'})
    return measured
  }

  /** Stops the load (requests in flight end as timeouts) and the thread. */
  async stop(): Promise<void> {
    this.stopping ??= (async () => {
      const stopped = new Promise<void>((resolve) => {
        const onMessage = (reply: LiveWorkerReply) => {
          if (reply.type === 'stopped' || reply.type === 'error') resolve()
        }
        this.worker.on('message', onMessage)
        this.worker.once('exit', () => resolve())
      })
      this.post({type: 'stop'})
      // A thread that cannot answer within a few seconds is ended all the same.
      let timer: NodeJS.Timeout | undefined
      await Promise.race([stopped, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))])
      clearTimeout(timer)
      await this.worker.terminate()
      this.rejectSteps(new MlshipError('The load generator was stopped', {code: 'BENCH_GENERATOR_STOPPED'}))
    })()
    return this.stopping
  }

  private post(request: LiveWorkerRequest): void {
    if (this.failure || this.stopping) return
    this.worker.postMessage(request)
  }

  private receive(reply: LiveWorkerReply): void {
    switch (reply.type) {
      case 'window': {
        this.hooks.onWindow(reply.window)
        break
      }
      case 'segment': {
        const id = reply.segment.stepId
        const waiting = id === null ? undefined : this.steps.get(id)
        if (waiting && id !== null) {
          this.steps.delete(id)
          waiting.resolve(reply.segment)
        } else this.hooks.onSegment(reply.segment)
        break
      }
      case 'error': {
        if (!this.stopping)
          this.fail(new MlshipError(`The load generator failed: ${reply.error}`, {code: 'BENCH_GENERATOR_FAILED'}))
        break
      }
      case 'stopped': {
        break
      }
    }
  }

  private fail(error: Error): void {
    if (this.failure) return
    this.failure = error
    this.rejectSteps(error)
    this.hooks.onFailure(error)
  }

  private rejectSteps(error: Error): void {
    for (const waiting of this.steps.values()) waiting.reject(error)
    this.steps.clear()
  }
}
