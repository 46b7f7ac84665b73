import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it, vi} from 'vitest'

import {startServer} from './server.js'
import {WorkerPool} from './worker-pool.js'

const IRIS = path.resolve(import.meta.dirname, '../../examples/iris')

describe('a server that cannot start', () => {
  it('stops the inference workers it started when the signature of model.yaml does not match the model', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-server-start-'))
    try {
      await cp(IRIS, work, {recursive: true})
      const configFile = path.join(work, 'model.yaml')
      await writeFile(configFile, (await readFile(configFile, 'utf8')).replace('dtype: float32', 'dtype: int64'))
      // The workers start from model.yaml while the model is opened for its signature: watch what is started.
      const closes: Array<ReturnType<typeof vi.fn>> = []
      const start = WorkerPool.start.bind(WorkerPool)
      const spy = vi.spyOn(WorkerPool, 'start').mockImplementation(async (options) => {
        const pool = await start(options)
        closes.push(vi.spyOn(pool, 'close'))
        return pool
      })
      try {
        const error = await startServer({dir: work, logger: false, port: 0}).catch((e: unknown) => e)
        expect(error).toMatchObject({exitCode: 2})
        expect((error as Error).message).toContain('the signature does not match the model')
      } finally {
        spy.mockRestore()
      }
      for (const close of closes) expect(close).toHaveBeenCalledOnce()
    } finally {
      await rm(work, {force: true, recursive: true})
    }
  })
})
