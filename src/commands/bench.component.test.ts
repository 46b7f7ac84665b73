/**
 * `mlship bench --url` against a server of the test's own, where the assertion is about the run keeping its schedule
 * (the verdict, the achieved rate): component tests, since a busy machine moves those numbers.
 */
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {format} from 'node:util'

import {runCommand as oclifRunCommand} from '@oclif/test'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import type {BenchResult} from '../bench/bench.js'

/** oclif prints through console.log/console.error, which vitest intercepts before @oclif/test can capture it. */
async function runCommand(args: string[]) {
  const stdout: string[] = []
  const stderr: string[] = []
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void stdout.push(format(...parts)))
  const error = vi
    .spyOn(console, 'error')
    .mockImplementation((...parts: unknown[]) => void stderr.push(format(...parts)))
  try {
    const result = await oclifRunCommand(args)
    return {...result, stderr: stderr.join('\n'), stdout: stdout.join('\n')}
  } finally {
    log.mockRestore()
    error.mockRestore()
  }
}

describe('mlship bench --url', () => {
  let server: Server
  let origin: string
  const bodies: string[] = []
  beforeAll(async () => {
    // A server of the test's own: /predict answers 200 and remembers the body.
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = ''
      req.on('data', (chunk: Buffer) => (body += chunk.toString()))
      req.on('end', () => {
        if (req.method === 'POST' && bodies.length < 5) bodies.push(body)
        res.setHeader('content-type', 'application/json')
        res.end('{"predictions": [[0.9, 0.05, 0.05]]}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  // Timing-dependent on a shared 2-core machine (the verdict needs the generator to keep its schedule): retried.
  it(
    'runs one fixed-rate step and prints the stable --json shape, with payloads from model.yaml',
    {retry: 2},
    async () => {
      const {stdout} = await runCommand([
        'bench',
        'examples/iris',
        '--url',
        origin,
        '--rate',
        '50',
        '--duration',
        '1',
        '--warmup',
        '1',
        '--json',
      ])
      const result = JSON.parse(stdout) as BenchResult
      expect(result.schemaVersion).toBe(1)
      expect(result.mode).toBe('fixed-rate')
      expect(result.target).toEqual({kind: 'url', method: 'POST', url: `${origin}/predict`})
      expect(result.payload.source).toMatch(/example inputs/)
      expect(result.runs).toHaveLength(1)
      const [step] = result.runs[0]!.steps
      expect(step!.requests).toBe(50)
      expect(step!.ok).toBe(50)
      expect(step!.verdict, step!.reasons.join('; ')).toBe('ok')
      expect(Object.keys(step!.latencyMs).sort()).toEqual([
        'count',
        'maxMs',
        'meanMs',
        'p50Ms',
        'p90Ms',
        'p95Ms',
        'p999Ms',
        'p99Ms',
      ])
      expect(JSON.parse(bodies[0]!)).toEqual({
        features: [
          [5.1, 3.5, 1.4, 0.2],
          [6.7, 3, 5.2, 2.3],
        ],
      })
    },
  )

  it('exits 7 when the result is under --fail-below', {retry: 2}, async () => {
    const {error, stdout} = await runCommand([
      'bench',
      'examples/iris',
      '--url',
      `${origin}/predict`,
      '--rate',
      '20',
      '--duration',
      '1',
      '--warmup',
      '0',
      '--fail-below',
      '1000',
      '--json',
    ])
    expect(process.exitCode).toBe(7)
    process.exitCode = 0
    const out = JSON.parse(stdout) as {error: {code: string; exitCode: number; details: {rate: number}}}
    expect(out.error.code).toBe('BENCH_BELOW_SLO')
    expect(out.error.exitCode).toBe(7)
    expect(out.error.details.rate).toBeGreaterThan(15)
    expect(error).toBeUndefined()
  })
})
