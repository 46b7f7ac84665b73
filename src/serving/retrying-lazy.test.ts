import {describe, expect, it} from 'vitest'

import {retryingLazy} from './retrying-lazy.js'

describe('retryingLazy', () => {
  it('creates once and shares the value among callers, in flight or after', async () => {
    let calls = 0
    const get = retryingLazy(() => Promise.resolve(++calls))
    expect(await Promise.all([get(), get()])).toEqual([1, 1])
    expect(await get()).toBe(1)
    expect(calls).toBe(1)
  })

  it('tries again after a failure instead of failing every later call with it', async () => {
    let calls = 0
    const get = retryingLazy(() =>
      ++calls === 1 ? Promise.reject(new Error('sharp failed to load')) : Promise.resolve(calls),
    )
    const [first, concurrent] = await Promise.allSettled([get(), get()])
    expect(first).toMatchObject({reason: {message: 'sharp failed to load'}, status: 'rejected'})
    expect(concurrent).toMatchObject({status: 'rejected'})
    expect(await get()).toBe(2)
    expect(await get()).toBe(2)
    expect(calls).toBe(2)
  })
})
