import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {startServer} from './server.js'
import {post} from './test-support/servers.js'

const fixture = (name: string) => path.resolve(import.meta.dirname, '../../test/fixtures', name)

describe('startServer', () => {
  const slowFeeds = (iterations: number) => ({inputs: {iterations: [iterations], x: [[1]]}})

  it('shuts down gracefully: readiness 503 at once, every request in flight finishes', async () => {
    // Given three requests the server holds in flight: its backend answers only when the test lets it
    let hold = false
    let arrived = 0
    let allArrived!: () => void
    const threeArrived = new Promise<void>((resolve) => (allArrived = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const server = await startServer({
      dir: fixture('slow'),
      host: '127.0.0.1',
      logger: false,
      port: 0,
      serving: {workers: 1},
      wrapBackend: (backend) => ({
        close: () => backend.close(),
        info: backend.info,
        run: async (feeds, options) => {
          if (hold) {
            if (++arrived === 3) allArrived()
            await released
          }
          return backend.run(feeds, options)
        },
      }),
    })
    hold = true
    const inFlight = Array.from({length: 3}, (_, i) => post(`${server.url}/predict`, slowFeeds(1000 + i)))
    await threeArrived
    // When it is told to close
    const closed = server.close()
    // Then it is no longer ready, at once, while the three are still in flight
    const ready = await server.app.inject({method: 'GET', url: '/ready'})
    expect(ready.statusCode).toBe(503)
    expect(JSON.parse(ready.body)).toEqual({status: 'shutting down'})
    // and each of them gets its answer before the server stops
    release()
    const results = await Promise.all(inFlight)
    expect(results.map((r) => r.status)).toEqual([200, 200, 200])
    expect(results.map((r) => (r.body.predictions as number[][])[0]![0])).toEqual([1001, 1002, 1003])
    await closed
    await expect(fetch(`${server.url}/health`)).rejects.toThrow()
  })
})
