import {afterEach, describe, expect, it, vi} from 'vitest'

import {QueueFullError, queueFull, retryAfterSeconds, ShedLog} from './admission.js'

describe('queueFull', () => {
  it('says which bound refused the request, and when to retry', () => {
    const byCount = queueFull(256, 256, 2400)
    expect(byCount).toMatchObject({headers: {'retry-after': '3'}, retryAfterSeconds: 3, statusCode: 503})
    expect(byCount.message).toBe(
      'the server is at capacity (256 requests queued, serving.max_queue is 256); retry after 3 s',
    )
    const byDelay = queueFull(40, 256, 31.6, {expectedMs: 31.6, limitMs: 25})
    expect(byDelay.message).toBe(
      'the server is at capacity (expected wait 32 ms, serving.max_queue_delay_ms is 25); retry after 1 s',
    )
    const error = new QueueFullError(byDelay)
    expect(error).toMatchObject({
      code: 'QUEUE_FULL',
      headers: {'retry-after': '1'},
      retryAfterSeconds: 1,
      statusCode: 503,
    })
    expect([retryAfterSeconds(0), retryAfterSeconds(1001), retryAfterSeconds(10 * 60_000)]).toEqual([1, 2, 60])
  })
})

describe('ShedLog', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('sums refusals up in one warning per interval instead of a line each', () => {
    vi.useFakeTimers()
    const warnings: Array<{fields: Record<string, any>; message: string}> = []
    const log = new ShedLog({warn: (fields, message) => warnings.push({fields, message})}, 50)
    for (let i = 0; i < 300; i++) log.record(queueFull(40 + (i % 3), 256, 30, {expectedMs: 30 + i / 100, limitMs: 25}))
    vi.advanceTimersByTime(49)
    expect(warnings).toHaveLength(0)
    vi.advanceTimersByTime(1)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]!.fields.shed).toEqual({
      expected_wait_ms: 33,
      interval_ms: 50,
      max_queue: 256,
      max_queue_delay_ms: 25,
      queued: 42,
      refused: 300,
      retry_after_s: 1,
    })
    expect(warnings[0]!.message).toMatch(
      /^shedding load: 300 requests refused with 503 in the last 0\.05 s \(the server is at capacity/,
    )
    // Quiet while nothing is refused; the next refusal starts a new interval, and flush (at close) writes it at once.
    vi.advanceTimersByTime(200)
    expect(warnings).toHaveLength(1)
    log.record(queueFull(256, 256, 500))
    log.flush()
    log.flush()
    expect(warnings).toHaveLength(2)
    expect(warnings[1]!.fields.shed).toMatchObject({queued: 256, refused: 1})
  })
})
