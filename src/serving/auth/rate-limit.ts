export interface RateLimitOptions {
  /** Requests per second each key may make, on average. */
  ratePerSecond: number
  /** Requests a key may make at once after a quiet spell. */
  burst: number
  /** Milliseconds, monotonic: performance.now() by default, a fake clock in tests. */
  now?: () => number
}

export type RateDecision = {allowed: true} | {allowed: false; retryAfterSeconds: number}

interface Bucket {
  tokens: number
  at: number
}

/**
 * A token bucket per key: each holds up to `burst` requests and refills at `ratePerSecond`, so a key may go as fast as
 * its rate on average and burst after a quiet spell, with no window edge at which twice the rate gets through (as a
 * fixed-window counter allows). Buckets exist for accepted keys only (a request is rate-limited after its key
 * matched), so their number is bounded by the keys; `retain` drops those of keys that were rotated out.
 */
export class KeyRateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private readonly now: () => number

  constructor(private readonly options: RateLimitOptions) {
    this.now = options.now ?? (() => performance.now())
  }

  take(keyId: string): RateDecision {
    const {burst, ratePerSecond} = this.options
    const now = this.now()
    const bucket = this.buckets.get(keyId) ?? {at: now, tokens: burst}
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * ratePerSecond)
    bucket.at = now
    this.buckets.set(keyId, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return {allowed: true}
    }
    // Whole seconds (Retry-After's unit), rounded up: a client that waits that long finds a token.
    return {allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond))}
  }

  /** Forgets the buckets of keys no longer accepted. */
  retain(keyIds: Set<string>): void {
    for (const id of this.buckets.keys()) if (!keyIds.has(id)) this.buckets.delete(id)
  }
}
