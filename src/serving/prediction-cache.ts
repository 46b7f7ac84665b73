import {createHash} from 'node:crypto'
import {LRUCache} from 'lru-cache'

import type {TensorMap as BatchFeeds} from './tensors.js'

export interface PredictionCacheOptions {
  maxEntries: number
  ttlSeconds: number
  onHit?: () => void
  onMiss?: () => void
}

/**
 * An LRU cache of predictions keyed by a hash of the input tensors (names, element types, shapes and bytes), with a
 * size bound and a time to live. Off by default (`serving.cache.enabled`): it only pays for models called again and
 * again with the same inputs, and it must not be used for models that are not deterministic.
 */
export class PredictionCache {
  private readonly cache: LRUCache<string, BatchFeeds>

  constructor(private readonly options: PredictionCacheOptions) {
    this.cache = new LRUCache<string, BatchFeeds>({max: options.maxEntries, ttl: options.ttlSeconds * 1000})
  }

  get size(): number {
    return this.cache.size
  }

  get(key: string): BatchFeeds | undefined {
    const value = this.cache.get(key)
    if (value === undefined) this.options.onMiss?.()
    else this.options.onHit?.()
    return value
  }

  set(key: string, outputs: BatchFeeds): void {
    this.cache.set(key, outputs)
  }

  /** The key of these inputs asked for these outputs (all of them when undefined). */
  keyOf(feeds: BatchFeeds, outputs: readonly string[] | undefined): string {
    return `${hashFeeds(feeds)}>${outputs?.join(',') ?? '*'}`
  }

  /** Runs `compute` on a miss and remembers its result; a hit returns the remembered outputs. */
  async getOrCompute(
    feeds: BatchFeeds,
    compute: () => Promise<BatchFeeds>,
  ): Promise<{outputs: BatchFeeds; hit: boolean}> {
    const key = hashFeeds(feeds)
    const cached = this.get(key)
    if (cached) return {hit: true, outputs: cached}
    const outputs = await compute()
    this.set(key, outputs)
    return {hit: false, outputs}
  }
}

/** A SHA-256 of the input tensors: equal inputs (names, types, shapes, element bytes) give equal keys. */
export function hashFeeds(feeds: BatchFeeds): string {
  const hash = createHash('sha256')
  for (const name of Object.keys(feeds).sort()) {
    const tensor = feeds[name]!
    hash.update(`${name.length}:${name}|${tensor.dtype}|${tensor.dims.join(',')}|`)
    const data = tensor.data
    if (ArrayBuffer.isView(data)) hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    else hash.update(JSON.stringify(data))
    hash.update('\0')
  }
  return hash.digest('base64url')
}
