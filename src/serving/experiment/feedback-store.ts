import {LRUCache} from 'lru-cache'

import type {RowPredictions} from './predictions.js'

/** A prediction served under the experiment, remembered until its outcome comes (or it is forgotten). */
export interface ServedPrediction {
  variant: string
  /** Forced with X-Mlship-Variant: its outcome is accepted and not counted. */
  forced: boolean
  rows: number
  predictions: RowPredictions | undefined
  /** What each shadow predicted for the same request, as its copies finish. */
  shadows: Map<string, RowPredictions>
  outcomeRecorded: boolean
}

export interface FeedbackStoreOptions {
  /** Rows remembered at most; the least recently used go first. */
  maxPredictions: number
  ttlSeconds: number
  /** Milliseconds, monotonic (performance.now by default; tests inject theirs). */
  now?: () => number
}

/**
 * The recent predictions POST /feedback can join an outcome to, by request id: bounded in rows (an LRU) and in time
 * (a TTL), so that memory stays flat whatever the traffic and however few outcomes come back.
 */
export class FeedbackStore {
  private readonly cache: LRUCache<string, ServedPrediction>

  constructor(options: FeedbackStoreOptions) {
    this.cache = new LRUCache<string, ServedPrediction>({
      maxSize: options.maxPredictions,
      sizeCalculation: (entry) => Math.max(1, entry.rows),
      ttl: options.ttlSeconds * 1000,
      ...(options.now ? {perf: {now: options.now}, ttlResolution: 0} : {}),
    })
  }

  /** Remembers a prediction under its request id (and the id of a v2 body, where it has another). */
  remember(ids: ReadonlyArray<string | undefined>, entry: ServedPrediction): void {
    for (const id of new Set(ids)) if (id !== undefined) this.cache.set(id, entry)
  }

  get(id: string): ServedPrediction | undefined {
    return this.cache.get(id)
  }

  get size(): number {
    return this.cache.size
  }
}
