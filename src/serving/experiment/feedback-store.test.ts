import {describe, expect, it} from 'vitest'

import {FeedbackStore, type ServedPrediction} from './feedback-store.js'

const served = (rows: number): ServedPrediction => ({
  forced: false,
  outcomeRecorded: false,
  predictions: {kind: 'class', rows: Array.from({length: rows}, () => 'setosa')},
  rows,
  shadows: new Map(),
  variant: 'control',
})

describe('FeedbackStore', () => {
  it('forgets a prediction once its time to live is over', () => {
    // lru-cache reads a start time of 0 as none: the clock starts later, as performance.now() always does.
    let now = 1000
    const store = new FeedbackStore({maxPredictions: 100, now: () => now, ttlSeconds: 60})
    store.remember(['a'], served(1))
    now = 60_999
    expect(store.get('a')?.variant).toBe('control')
    now = 61_001
    expect(store.get('a')).toBeUndefined()
  })

  it('keeps at most max_predictions rows, dropping the least recently used requests first', () => {
    const store = new FeedbackStore({maxPredictions: 10, ttlSeconds: 60})
    store.remember(['four'], served(4))
    store.remember(['three'], served(3))
    expect(store.get('four')).toBeDefined()
    store.remember(['five'], served(5))
    // 4 + 3 + 5 rows > 10: "three", used least recently, goes.
    expect(store.get('three')).toBeUndefined()
    expect(store.get('four')).toBeDefined()
    expect(store.get('five')).toBeDefined()
  })

  it('finds a v2 request by its body id and by its request id, the same entry', () => {
    const store = new FeedbackStore({maxPredictions: 10, ttlSeconds: 60})
    const entry = served(1)
    store.remember(['req-1', 'body-1'], entry)
    expect(store.get('req-1')).toBe(entry)
    expect(store.get('body-1')).toBe(entry)
  })
})
