/**
 * The server under a real CPU-bound inference: the HTTP thread stays responsive while the only worker is stalled.
 * A component test: its assertion is about wall-clock time.
 */
import {describe, expect, it} from 'vitest'

import {fixture, post, startLocalServer} from './test-support/servers.js'

describe('never falls over', () => {
  const slowFeeds = (iterations: number) => ({inputs: {iterations: [iterations], x: [[1]]}})

  it('answers /health at once while the only worker is stalled in a long inference', async () => {
    const server = await startLocalServer(fixture('slow'), {serving: {workers: 1}})
    try {
      const stalled = post(`${server.url}/predict`, slowFeeds(1_000_000))
      await new Promise((resolve) => setTimeout(resolve, 100))
      const times: number[] = []
      for (let i = 0; i < 5; i++) {
        const start = performance.now()
        const health = await fetch(`${server.url}/health`)
        times.push(performance.now() - start)
        expect(health.status).toBe(200)
      }
      const result = await stalled
      expect(result.status).toBe(200)
      expect(result.body.predictions).toEqual([[1_000_001]])
      // The inference took a second or more; /health never waited for it.
      expect(result.body.latency_ms).toBeGreaterThan(500)
      expect(Math.max(...times)).toBeLessThan(200)
    } finally {
      await server.close()
    }
  })
})
