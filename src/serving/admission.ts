import {RequestError} from './request-error.js'

/**
 * Admission control: a full queue is 503 with Retry-After, refused at once so that accepted requests keep their
 * latency; a request past its deadline (serving.request_timeout_ms) is 504 instead of waiting forever.
 */

/**
 * Why a request arriving now is refused. A plain value, not an Error: under overload the server refuses thousands of
 * requests a second at the door, and capturing a stack trace for each would spend the CPU the accepted ones need.
 */
export interface Refusal {
  readonly statusCode: 503
  readonly message: string
  readonly headers: Readonly<Record<string, string>>
  readonly queued: number
  readonly limit: number
  /** Whole seconds after which a retry is likely to be accepted (the Retry-After header). */
  readonly retryAfterSeconds: number
  /** Set when the expected wait, not the count, is over its bound (serving.max_queue_delay_ms). */
  readonly delay?: {expectedMs: number; limitMs: number}
}

export function queueFull(
  queued: number,
  limit: number,
  expectedWaitMs: number,
  delay?: {expectedMs: number; limitMs: number},
): Refusal {
  const retryAfter = retryAfterSeconds(expectedWaitMs)
  return {
    ...(delay ? {delay} : {}),
    headers: {'retry-after': String(retryAfter)},
    limit,
    message: delay
      ? `the server is at capacity (expected wait ${Math.round(delay.expectedMs)} ms, serving.max_queue_delay_ms is ${delay.limitMs}); retry after ${retryAfter} s`
      : `the server is at capacity (${queued} requests queued, serving.max_queue is ${limit}); retry after ${retryAfter} s`,
    queued,
    retryAfterSeconds: retryAfter,
    statusCode: 503,
  }
}

/** A refusal thrown from `Batcher.submit` (callers that did not ask first). */
export class QueueFullError extends RequestError {
  readonly code = 'QUEUE_FULL'
  readonly retryAfterSeconds: number

  constructor(readonly refusal: Refusal) {
    super(refusal.statusCode, refusal.message, {...refusal.headers})
    this.name = 'QueueFullError'
    this.retryAfterSeconds = refusal.retryAfterSeconds
  }
}

export class DeadlineExceededError extends RequestError {
  readonly code = 'DEADLINE_EXCEEDED'

  constructor(
    readonly timeoutMs: number,
    readonly stage: 'queued' | 'running',
  ) {
    super(
      504,
      `the prediction did not finish within serving.request_timeout_ms (${timeoutMs} ms); it was ${stage === 'queued' ? 'still waiting for a worker' : 'running'}`,
    )
    this.name = 'DeadlineExceededError'
  }
}

/** Retry-After in whole seconds (at least 1) from the expected time to drain the queue. */
export function retryAfterSeconds(expectedWaitMs: number): number {
  return Math.max(1, Math.min(60, Math.ceil(expectedWaitMs / 1000)))
}

export interface ShedLogger {
  warn(fields: object, message: string): void
}

/**
 * One warning a second while the server sheds load, instead of one line per refused request: under overload a log
 * line per refusal would cost as much CPU as the refusal itself, and flood the log with what one line says.
 */
export class ShedLog {
  private refused = 0
  private last: Refusal | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly logger: ShedLogger,
    private readonly intervalMs = 1000,
  ) {}

  record(refusal: Refusal): void {
    this.refused++
    this.last = refusal
    if (this.timer) return
    this.timer = setTimeout(() => this.flush(), this.intervalMs)
    this.timer.unref()
  }

  flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.refused === 0 || !this.last) return
    const {delay, limit, queued, retryAfterSeconds: retryAfter} = this.last
    this.logger.warn(
      {
        shed: {
          interval_ms: this.intervalMs,
          max_queue: limit,
          ...(delay ? {expected_wait_ms: Math.round(delay.expectedMs), max_queue_delay_ms: delay.limitMs} : {}),
          queued,
          refused: this.refused,
          retry_after_s: retryAfter,
        },
      },
      `shedding load: ${this.refused} requests refused with 503 in the last ${this.intervalMs / 1000} s (${this.last.message})`,
    )
    this.refused = 0
  }
}
