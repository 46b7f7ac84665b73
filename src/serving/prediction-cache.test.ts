import {describe, expect, it} from 'vitest'

import {hashFeeds, PredictionCache} from './prediction-cache.js'
import type {TensorMap} from './tensors.js'

const feeds = (values: number[], dims = [1, values.length]): TensorMap => ({
  x: {data: Float32Array.from(values), dims, dtype: 'float32'},
})

describe('PredictionCache', () => {
  it('answers repeated inputs from the cache and counts hits and misses', async () => {
    let hits = 0
    let misses = 0
    let computed = 0
    const cache = new PredictionCache({maxEntries: 2, onHit: () => hits++, onMiss: () => misses++, ttlSeconds: 60})
    const compute = async () => {
      computed++
      return {y: {data: Float32Array.of(computed), dims: [1], dtype: 'float32'}} as TensorMap
    }
    const first = await cache.getOrCompute(feeds([1, 2]), compute)
    const again = await cache.getOrCompute(feeds([1, 2]), compute)
    expect(first.hit).toBe(false)
    expect(again).toEqual({hit: true, outputs: first.outputs})
    await cache.getOrCompute(feeds([3, 4]), compute)
    await cache.getOrCompute(feeds([5, 6]), compute) // evicts [1, 2], the least recently used
    expect((await cache.getOrCompute(feeds([1, 2]), compute)).hit).toBe(false)
    expect({computed, hits, misses}).toEqual({computed: 4, hits: 1, misses: 4})
  })

  it('forgets entries after their time to live', async () => {
    const cache = new PredictionCache({maxEntries: 10, ttlSeconds: 0.02})
    cache.set(hashFeeds(feeds([1])), feeds([9]))
    expect(cache.get(hashFeeds(feeds([1])))).toBeDefined()
    await new Promise((resolve) => setTimeout(resolve, 40))
    expect(cache.get(hashFeeds(feeds([1])))).toBeUndefined()
  })

  it('keys by names, types, shapes and bytes', () => {
    const base = hashFeeds(feeds([1, 2]))
    expect(hashFeeds(feeds([1, 2]))).toBe(base)
    expect(hashFeeds(feeds([1, 2], [2, 1]))).not.toBe(base)
    expect(hashFeeds({x: {data: Float64Array.of(1, 2), dims: [1, 2], dtype: 'float64'}})).not.toBe(base)
    expect(hashFeeds({z: feeds([1, 2]).x!})).not.toBe(base)
    expect(hashFeeds({s: {data: ['a', 'b'], dims: [2], dtype: 'string'}})).not.toBe(
      hashFeeds({s: {data: ['ab'], dims: [1], dtype: 'string'}}),
    )
  })

  it('keys the same inputs asked for other outputs apart', () => {
    const cache = new PredictionCache({maxEntries: 10, ttlSeconds: 60})
    const all = cache.keyOf(feeds([1, 2]), undefined)
    expect(cache.keyOf(feeds([1, 2]), undefined)).toBe(all)
    expect(cache.keyOf(feeds([1, 2]), ['label'])).not.toBe(all)
    expect(cache.keyOf(feeds([1, 2]), ['label', 'probabilities'])).not.toBe(cache.keyOf(feeds([1, 2]), ['label']))
    expect(cache.keyOf(feeds([3, 4]), undefined)).not.toBe(all)
  })
})
