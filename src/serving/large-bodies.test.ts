import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {type BodyDecoder, DecodePool} from './decode-pool.js'
import {type RunningServer, startServer} from './server.js'
import {CLOSE_AT_ONCE} from './test-support/servers.js'

const root = path.resolve(fileURLToPath(import.meta.url), '../../..')
const IRIS = path.join(root, 'examples/iris')
const MULTI = path.join(root, 'test/fixtures/multi')

async function post(url: string, body: string) {
  const response = await fetch(url, {body, headers: {'content-type': 'application/json'}, method: 'POST'})
  return {body: (await response.json()) as Record<string, unknown>, status: response.status}
}

/** A real decoder whose bodies wait, once they reach it, until the test lets them through. */
function holding(decoder: BodyDecoder) {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let held = 0
  const waiters: Array<{count: number; resolve: () => void}> = []
  const wrapped: BodyDecoder = {
    close: () => decoder.close(),
    decode: async (kind, body) => {
      held++
      for (const waiter of waiters) if (held >= waiter.count) waiter.resolve()
      await released
      return decoder.decode(kind, body)
    },
  }
  return {
    held: () => held,
    release,
    until: (count: number) =>
      held >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({count, resolve})),
    wrapped,
  }
}

describe('large request bodies', () => {
  it('are decoded by a decode thread, not on the event loop: /health and small requests answer meanwhile', async () => {
    let gate: ReturnType<typeof holding> | undefined
    const server = await startServer({
      dir: IRIS,
      host: '127.0.0.1',
      largeBodies: {thresholdBytes: 64 * 1024, threads: 1, wrap: (decoder) => (gate = holding(decoder)).wrapped},
      logger: false,
      port: 0,
      serving: {maxBatchSize: 100_000, workers: 1},
    })
    try {
      const rows = Array.from({length: 8000}, (_, i) => [5.1, 3.5, 1.4, (i % 10) / 10])
      const big = JSON.stringify({features: rows})
      expect(big.length).toBeGreaterThan(64 * 1024)
      const answers = Array.from({length: 4}, () => post(`${server.url}/predict`, big))
      // Every large body has reached the decoder (none was parsed on the event loop), and they are all held there.
      await gate!.until(4)
      const health = await fetch(`${server.url}/health`)
      expect(health.status).toBe(200)
      const small = await post(`${server.url}/predict`, JSON.stringify({features: [rows[3]]}))
      expect(small.status).toBe(200)
      expect(gate!.held()).toBe(4)
      gate!.release()
      const done = await Promise.all(answers)
      expect(done.map((a) => a.status)).toEqual([200, 200, 200, 200])
      const predictions = done[0]!.body.predictions as number[][]
      expect(predictions).toHaveLength(8000)
      expect(predictions[3]).toEqual((small.body.predictions as number[][])[0])
    } finally {
      gate?.release()
      await server.close(CLOSE_AT_ONCE)
    }
  })

  it('start their decode threads with the first large body when the model has no preprocessing', async () => {
    let pool: BodyDecoder | undefined
    const server = await startServer({
      dir: IRIS,
      host: '127.0.0.1',
      largeBodies: {thresholdBytes: 64 * 1024, threads: 1, wrap: (decoder) => (pool = decoder)},
      logger: false,
      port: 0,
      serving: {maxBatchSize: 100_000, workers: 1},
    })
    try {
      expect(pool).toBeInstanceOf(DecodePool)
      // Not started by the server: its start stays out of the cold start.
      expect((pool as DecodePool).started).toBe(false)
      const small = await post(`${server.url}/predict`, JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]}))
      expect(small.status).toBe(200)
      expect((pool as DecodePool).started).toBe(false)
      const rows = Array.from({length: 4000}, () => [5.1, 3.5, 1.4, 0.2])
      const big = await post(`${server.url}/predict`, JSON.stringify({features: rows}))
      expect(big.status).toBe(200)
      expect(big.body.predictions).toHaveLength(4000)
      expect((big.body.predictions as number[][])[0]).toEqual((small.body.predictions as number[][])[0])
      expect((pool as DecodePool).started).toBe(true)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })

  describe('answer exactly as bodies parsed on the event loop do', () => {
    const cases: Array<[string, string]> = [
      ['/predict', JSON.stringify({inputs: {a: [[[1, 2, 3]]], b: [['9007199254740993', 2]], mask: [[true]]}})],
      ['/predict', JSON.stringify({inputs: {a: [[[1, 2, 3]]], b: [[1, 2]], mask: [[true, false]]}})],
      ['/predict', '{"inputs": {"a": [[[1, 2, 3]]], "b": [[9007199254740993, 2]], "mask": [[true]]}}'],
      ['/predict', JSON.stringify({features: [[1]]})],
      ['/predict', '{"inputs": {"a": [[[1, 2'],
      ['/predict', '{"__proto__": {"polluted": true}, "inputs": {}}'],
      ['/predict', ''],
      [
        '/v2/models/multi/infer',
        JSON.stringify({
          id: 'r1',
          inputs: [
            {data: [1, 2, 3, 4, 5, 6], datatype: 'FP32', name: 'a', shape: [1, 2, 3]},
            {data: [5, '7'], datatype: 'INT64', name: 'b', shape: [1, 2]},
            {data: [true, false], datatype: 'BOOL', name: 'mask', shape: [1, 2]},
          ],
          outputs: [{name: 'b_next'}],
        }),
      ],
      [
        '/v2/models/multi/infer',
        JSON.stringify({inputs: [{data: ['x'], datatype: 'FP32', name: 'a', shape: [1, 1e11, 3]}]}),
      ],
      ['/v2/models/other/infer', JSON.stringify({inputs: []})],
    ]

    it('every body through a decode thread, or none', async () => {
      const servers: RunningServer[] = []
      try {
        for (const option of [{thresholdBytes: 0}, false as const]) {
          servers.push(
            await startServer({
              dir: MULTI,
              host: '127.0.0.1',
              largeBodies: option,
              logger: false,
              port: 0,
              serving: {workers: 1},
            }),
          )
        }
        for (const [route, body] of cases) {
          const [a, b] = await Promise.all(servers.map((server) => post(`${server.url}${route}`, body)))
          expect(a!.status, `${route} ${body}`).toBe(b!.status)
          expect({...a!.body, latency_ms: 0}, `${route} ${body}`).toEqual({...b!.body, latency_ms: 0})
        }
      } finally {
        for (const server of servers) await server.close(CLOSE_AT_ONCE)
      }
    })
  })
})
