import {describe, expect, it} from 'vitest'

import {fixture, heldBackend, post, startLocalServer} from './test-support/servers.js'

describe('startServer', () => {
  const slowFeeds = (iterations: number) => ({inputs: {iterations: [iterations], x: [[1]]}})

  it('shuts down gracefully: readiness 503 at once, every request in flight finishes', async () => {
    // Given three requests the server holds in flight: its backend answers only when the test lets it
    const backend = heldBackend(3)
    const server = await startLocalServer(fixture('slow'), {serving: {workers: 1}, wrapBackend: backend.wrapBackend})
    backend.hold()
    const inFlight = Array.from({length: 3}, (_, i) => post(`${server.url}/predict`, slowFeeds(1000 + i)))
    await backend.arrived
    // When it is told to close
    const closed = server.close()
    // Then it is no longer ready, at once, while the three are still in flight
    const ready = await server.app.inject({method: 'GET', url: '/ready'})
    expect(ready.statusCode).toBe(503)
    expect(JSON.parse(ready.body)).toEqual({status: 'shutting down'})
    // and each of them gets its answer before the server stops
    backend.release()
    const results = await Promise.all(inFlight)
    expect(results.map((r) => r.status)).toEqual([200, 200, 200])
    expect(results.map((r) => (r.body.predictions as number[][])[0]![0])).toEqual([1001, 1002, 1003])
    await closed
    await expect(fetch(`${server.url}/health`)).rejects.toThrow()
  })
})
