import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {openSession} from '../model/session.js'
import {RequestError} from './request-error.js'
import {sessionBackend} from './session-backend.js'

const iris = path.resolve(import.meta.dirname, '../../examples/iris/model.onnx')
const info = {executionProvider: 'cpu' as const, intraOpThreads: 1, workers: 1}

describe('sessionBackend', () => {
  it("answers what the model answers, with onnxruntime's session in this thread", async () => {
    const backend = await sessionBackend(await openSession(iris), info)
    try {
      const outputs = await backend.run({
        features: {data: Float32Array.from([5.1, 3.5, 1.4, 0.2]), dims: [1, 4], dtype: 'float32'},
      })
      const probabilities = outputs.probabilities!

      expect(probabilities.dims).toEqual([1, 3])
      expect((probabilities.data as Float32Array)[0]).toBeGreaterThan(0.9)
      expect(backend.info).toEqual(info)
    } finally {
      await backend.close()
    }
  })

  it('refuses values the model cannot run on as the worker pool does: 422 with what onnxruntime said', async () => {
    const backend = await sessionBackend(await openSession(iris), info)
    try {
      const failure = await backend
        .run({features: {data: Float32Array.from([1, 2, 3, 4, 5]), dims: [1, 5], dtype: 'float32'}})
        .catch((error: unknown) => error)

      expect(failure).toBeInstanceOf(RequestError)
      expect(failure).toMatchObject({statusCode: 422})
      expect((failure as Error).message).toMatch(/^the model cannot run on this input: .*dimension/i)
    } finally {
      await backend.close()
    }
  })
})
