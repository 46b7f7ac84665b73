import {RequestError} from './request-error.js'

/**
 * Admission control: a full queue is 503 with Retry-After, refused at once so that accepted requests keep their
 * latency; a request past its deadline (serving.request_timeout_ms) is 504 instead of waiting forever.
 */
export class QueueFullError extends RequestError {
  readonly code = 'QUEUE_FULL'

  constructor(
    readonly queued: number,
    readonly limit: number,
    /** Whole seconds after which a retry is likely to be accepted (the Retry-After header). */
    readonly retryAfterSeconds: number,
    /** Set when the expected wait, not the count, is over its bound (serving.max_queue_delay_ms). */
    readonly delay?: {expectedMs: number; limitMs: number},
  ) {
    super(
      503,
      delay
        ? `the server is at capacity (expected wait ${Math.round(delay.expectedMs)} ms, serving.max_queue_delay_ms is ${delay.limitMs}); retry after ${retryAfterSeconds} s`
        : `the server is at capacity (${queued} requests queued, serving.max_queue is ${limit}); retry after ${retryAfterSeconds} s`,
      {'retry-after': String(retryAfterSeconds)},
    )
    this.name = 'QueueFullError'
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
