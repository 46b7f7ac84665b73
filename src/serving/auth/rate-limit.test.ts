import {describe, expect, it} from 'vitest'

import {KeyRateLimiter} from './rate-limit.js'

describe('KeyRateLimiter', () => {
  it('lets a burst through, then refuses with the seconds until a token, then refills at the rate', () => {
    let now = 1000
    const limiter = new KeyRateLimiter({burst: 3, now: () => now, ratePerSecond: 2})
    expect([1, 2, 3].map(() => limiter.take('a').allowed)).toEqual([true, true, true])
    expect(limiter.take('a')).toEqual({allowed: false, retryAfterSeconds: 1})
    // Half a second at 2/s is one token.
    now += 500
    expect(limiter.take('a').allowed).toBe(true)
    expect(limiter.take('a').allowed).toBe(false)
    // A long quiet spell refills to the burst, no further.
    now += 60_000
    expect([1, 2, 3, 4].map(() => limiter.take('a').allowed)).toEqual([true, true, true, false])
  })

  it('keeps a bucket per key: one busy key does not slow another', () => {
    const now = 0
    const limiter = new KeyRateLimiter({burst: 1, now: () => now, ratePerSecond: 1})
    expect(limiter.take('a').allowed).toBe(true)
    expect(limiter.take('a').allowed).toBe(false)
    expect(limiter.take('b').allowed).toBe(true)
  })

  it('says how long to wait at a slow rate, in whole seconds rounded up', () => {
    let now = 0
    const limiter = new KeyRateLimiter({burst: 1, now: () => now, ratePerSecond: 0.1})
    expect(limiter.take('a').allowed).toBe(true)
    expect(limiter.take('a')).toEqual({allowed: false, retryAfterSeconds: 10})
    now += 2500
    expect(limiter.take('a')).toEqual({allowed: false, retryAfterSeconds: 8})
    now += 7500
    expect(limiter.take('a').allowed).toBe(true)
  })

  it('forgets the buckets of keys rotated out: a key added again starts full', () => {
    const now = 0
    const limiter = new KeyRateLimiter({burst: 1, now: () => now, ratePerSecond: 1})
    limiter.take('a')
    expect(limiter.take('a').allowed).toBe(false)
    limiter.retain(new Set(['b']))
    expect(limiter.take('a').allowed).toBe(true)
  })
})
