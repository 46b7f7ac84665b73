/**
 * Admission control errors. The serving app maps them to HTTP: a full queue is 503 with Retry-After (refused at once,
 * so that accepted requests keep their latency), a request past its deadline is 504.
 */
export class QueueFullError extends Error {
  readonly statusCode = 503
  readonly code = 'QUEUE_FULL'

  constructor(
    readonly queued: number,
    readonly limit: number,
    /** Whole seconds after which a retry is likely to be accepted (the Retry-After header). */
    readonly retryAfterSeconds: number,
  ) {
    super(`the server is at capacity (${queued} requests queued, serving.max_queue is ${limit}); retry after ${retryAfterSeconds} s`)
    this.name = 'QueueFullError'
  }
}

export class DeadlineExceededError extends Error {
  readonly statusCode = 504
  readonly code = 'DEADLINE_EXCEEDED'

  constructor(
    readonly timeoutMs: number,
    readonly stage: 'queued' | 'running',
  ) {
    super(
      `the prediction did not finish within serving.request_timeout_ms (${timeoutMs} ms); it was ${stage === 'queued' ? 'still waiting for a worker' : 'running'}`,
    )
    this.name = 'DeadlineExceededError'
  }
}

export function isAdmissionError(error: unknown): error is QueueFullError | DeadlineExceededError {
  return error instanceof QueueFullError || error instanceof DeadlineExceededError
}

/** Retry-After in whole seconds (at least 1) from the expected time to drain the queue. */
export function retryAfterSeconds(expectedWaitMs: number): number {
  return Math.max(1, Math.min(60, Math.ceil(expectedWaitMs / 1000)))
}
