import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {WorkerPool} from './worker-pool.js'

const root = path.resolve(fileURLToPath(import.meta.url), '../../..')
const slowModel = path.join(root, 'test/fixtures/slow/model.onnx')
const feeds = (iterations: number) => ({
  iterations: {data: BigInt64Array.from([BigInt(iterations)]), dims: [1], dtype: 'int64' as const},
  x: {data: Float32Array.from([1]), dims: [1, 1], dtype: 'float32' as const},
})

describe('WorkerPool', () => {
  it('spreads requests over its workers and answers each with its own result', async () => {
    const pool = await WorkerPool.start({device: 'cpu', intraOpThreads: 1, modelPath: slowModel, workers: 2})
    try {
      const results = await Promise.all(Array.from({length: 20}, (_, i) => pool.run(feeds(i))))
      expect(results.map((r) => (r.y!.data as Float32Array)[0])).toEqual(Array.from({length: 20}, (_, i) => 1 + i))
      expect(pool.info).toEqual({executionProvider: 'cpu', intraOpThreads: 1, workers: 2})
    } finally {
      await pool.close()
    }
  })

  it('fails only the requests a dying worker held, replaces it, and keeps serving', async () => {
    const exits: number[] = []
    const pool = await WorkerPool.start({
      device: 'cpu',
      intraOpThreads: 1,
      modelPath: slowModel,
      onWorkerExit: ({worker}) => exits.push(worker),
      workers: 1,
    })
    try {
      // Killing a thread in the middle of onnxruntime's run aborts the whole process (a Napi::Error nobody catches),
      // which is why the pool only ever terminates idle workers. Here the worker dies while a request waits for it.
      const worker = (pool as unknown as {slots: Array<{worker: {terminate(): Promise<number>}}>}).slots[0]!.worker
      const dying = worker.terminate()
      const held = pool.run(feeds(5))
      await dying
      await expect(held).rejects.toThrow(/the inference worker stopped unexpectedly/)
      expect(exits).toEqual([0])
      const next = await pool.run(feeds(5))
      expect((next.y!.data as Float32Array)[0]).toBe(6)
    } finally {
      await pool.close()
    }
  })

  it('refuses new work once closing, after finishing what it holds', async () => {
    const pool = await WorkerPool.start({device: 'cpu', intraOpThreads: 1, modelPath: slowModel, workers: 1})
    const held = pool.run(feeds(50_000))
    const closed = pool.close()
    await expect(pool.run(feeds(1))).rejects.toMatchObject({statusCode: 503})
    expect((await held).y).toBeDefined()
    await closed
  })

  it('says which model failed to load', async () => {
    await expect(
      WorkerPool.start({
        device: 'cpu',
        intraOpThreads: 1,
        modelPath: path.join(root, 'examples/iris/model.yaml'),
        workers: 1,
      }),
    ).rejects.toThrow(/model.yaml: not an ONNX model|onnxruntime cannot load it/)
  })
})
