import {performance} from 'node:perf_hooks'
import {type Dispatcher, Pool} from 'undici'

import type {ErrorKind} from './load-step.js'

/** How one request ended: a status, an error, or its deadline. */
export interface RequestOutcome {
  status?: number
  error?: unknown
  timedOut?: boolean
}

export interface SenderOptions {
  /** The full URL requests go to (origin and path). */
  url: string
  method: string
  headers: Record<string, string>
  /** Keep-alive connections in the pool; requests beyond them wait in the client's queue (and that wait counts). */
  connections: number
  /** A request that has not finished this long after its scheduled time is aborted and counted as a timeout. */
  timeoutMs: number
}

/** One request on its way; `tag` is the caller's, given back when it ends. */
interface Pending<T> {
  scheduledAt: number
  deadline: number
  tag: T
  /** Set once undici puts the request on a connection; a request still queued in the pool has none yet. */
  controller?: Dispatcher.DispatchController
  status?: number
  done: boolean
}

class GeneratorTimeout extends Error {
  override name = 'GeneratorTimeout'
}

const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
])

/** The kind of a failed request that got no status. */
export function classifyError(outcome: RequestOutcome): Exclude<ErrorKind, 'status'> {
  if (outcome.timedOut) return 'timeout'
  const code = (outcome.error as {code?: string} | undefined)?.code ?? ''
  const causeCode = (outcome.error as {cause?: {code?: string}} | undefined)?.cause?.code ?? ''
  if (CONNECTION_ERRORS.has(code) || CONNECTION_ERRORS.has(causeCode)) return 'connection'
  return 'other'
}

/**
 * Sends requests to one endpoint, each with a deadline `timeoutMs` after its scheduled time, and tells `onEnd` once
 * for every request, however it ends. Shared by the fixed-rate step and the live load of `bench --ui`: what they
 * count differs, how a request is sent, timed out and classified does not.
 */
export class RequestSender<T> {
  private readonly pool: Pool
  private readonly path: string
  private readonly pending: Array<Pending<T>> = []
  private pendingHead = 0
  private inFlightCount = 0

  constructor(
    private readonly options: SenderOptions,
    private readonly onEnd: (scheduledAt: number, tag: T, outcome: RequestOutcome) => void,
  ) {
    const target = new URL(options.url)
    this.path = `${target.pathname}${target.search}`
    this.pool = new Pool(target.origin, {
      bodyTimeout: 0,
      connections: options.connections,
      headersTimeout: 0,
      keepAliveTimeout: 30_000,
      pipelining: 1,
    })
  }

  /**
   * Requests waiting in the pool's own queue for a free connection, those already ended (timed out) included: undici
   * still dispatches each one, to abort it. Only destroy() removes them at once.
   */
  get queued(): number {
    return this.pool.stats.queued
  }

  /** Requests sent and not yet ended. */
  get inFlight(): number {
    return this.inFlightCount
  }

  /** The raw dispatch API: no response stream or promise per request, so the generator spends its CPU on sending. */
  send(scheduledAt: number, body: string | Uint8Array | undefined, tag: T): void {
    const entry: Pending<T> = {deadline: scheduledAt + this.options.timeoutMs, done: false, scheduledAt, tag}
    this.pending.push(entry)
    this.inFlightCount++
    try {
      this.pool.dispatch(
        {body, headers: this.options.headers, method: this.options.method, path: this.path},
        this.handler(entry),
      )
    } catch (error) {
      this.settle(entry, {error})
    }
  }

  /** Ends every request past its deadline as a timeout. Deadlines are in schedule order: the oldest is at the head. */
  reapExpired(now = performance.now()): void {
    while (this.pendingHead < this.pending.length) {
      const head = this.pending[this.pendingHead]!
      if (!head.done && head.deadline > now) break
      if (!head.done) {
        this.settle(head, {timedOut: true})
        head.controller?.abort(new GeneratorTimeout('deadline passed'))
      }
      this.pendingHead++
    }
    if (this.pendingHead > 4096 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead)
      this.pendingHead = 0
    }
  }

  /** Ends every request still in flight as a timeout; returns how many there were. */
  abandonAll(): number {
    const abandoned = this.inFlightCount
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      const entry = this.pending[i]!
      if (entry.done) continue
      this.settle(entry, {timedOut: true})
      entry.controller?.abort(new GeneratorTimeout('step closed'))
    }
    return abandoned
  }

  async destroy(): Promise<void> {
    await this.pool.destroy().catch(() => {})
  }

  private settle(entry: Pending<T>, outcome: RequestOutcome): void {
    if (entry.done) return
    entry.done = true
    this.inFlightCount--
    this.onEnd(entry.scheduledAt, entry.tag, outcome)
  }

  private handler(entry: Pending<T>): Dispatcher.DispatchHandler {
    return {
      onRequestStart: (controller) => {
        // A request whose deadline passed while it waited in the pool's queue is dropped here, at no cost.
        if (entry.done) controller.abort(new GeneratorTimeout('deadline passed in the queue'))
        else entry.controller = controller
      },
      onResponseData: () => {},
      onResponseEnd: () => this.settle(entry, {status: entry.status}),
      onResponseError: (_controller, error) => this.settle(entry, {error}),
      onResponseStart: (_controller, statusCode) => {
        entry.status = statusCode
      },
    }
  }
}
