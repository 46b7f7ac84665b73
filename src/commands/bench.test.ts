import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'

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
  let tmp: string
  const bodies: string[] = []
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'mlship-bench-'))
    // A server of the test's own: /predict answers 200 and remembers the body; /reject answers 400.
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = ''
      req.on('data', (chunk) => (body += chunk))
      req.on('end', () => {
        if (req.url === '/reject') {
          res.statusCode = 400
          res.end('{"error": "features: expected 4 columns"}')
          return
        }
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
    await rm(tmp, {force: true, recursive: true})
  })

  it('sends a --payload file of any shape to any path, and writes a self-contained HTML report', async () => {
    const payload = path.join(tmp, 'body.json')
    const html = path.join(tmp, 'report.html')
    await writeFile(payload, '{"features": [[1, 2, 3, 4]]}\n')
    const {stdout} = await runCommand([
      'bench',
      tmp,
      '--url',
      origin,
      '--path',
      '/predict',
      '--payload',
      payload,
      '--rate',
      '30',
      '--duration',
      '1',
      '--warmup',
      '0',
      '--html',
      html,
    ])
    expect(stdout).toMatch(/offered\/s/)
    const page = await readFile(html, 'utf8')
    expect(page).toMatch(/^<!doctype html>/)
    expect(page).toContain('<svg')
    // No external assets: no script, link or image source anywhere but the page itself.
    expect(page).not.toMatch(/<(script|link|img)\b/i)
    expect(page).not.toMatch(/(src|href)=["']?https?:/i)
  })

  it('with --json writes the result on stdout and still shows its progress on stderr', async () => {
    const {stderr, stdout} = await runCommand([
      'bench',
      'examples/iris',
      '--url',
      `${origin}/predict`,
      '--rate',
      '30',
      '--duration',
      '1',
      '--warmup',
      '0',
      '--json',
    ])
    expect(JSON.parse(stdout)).toMatchObject({
      mode: 'fixed-rate',
      model: {name: 'iris-classifier', version: '1.0.0'},
      runs: [expect.any(Object)],
      schemaVersion: 1,
    })
    expect(stderr).toContain(`Benchmarking ${origin}/predict`)
  })

  it('stops before any load when the server rejects the payload, with its answer', async () => {
    const {error} = await runCommand([
      'bench',
      'examples/iris',
      '--url',
      `${origin}/reject`,
      '--rate',
      '10',
      '--duration',
      '1',
    ])
    expect(error?.oclif?.exit).toBe(2)
    expect(error?.message).toMatch(/answered 400 .*expected 4 columns/)
    process.exitCode = 0
  })

  it('says plainly when nothing listens at --url (exit 5)', async () => {
    const {error} = await runCommand([
      'bench',
      'examples/iris',
      '--url',
      'http://127.0.0.1:9/predict',
      '--rate',
      '10',
      '--duration',
      '1',
    ])
    expect(error?.oclif?.exit).toBe(5)
    expect(error?.message).toMatch(/connection refused/)
    process.exitCode = 0
  })

  it('refuses --devices gpu with --url', async () => {
    const {error} = await runCommand(['bench', 'examples/iris', '--url', origin, '--devices', 'cpu,gpu'])
    expect(error?.oclif?.exit).toBe(2)
    process.exitCode = 0
  })
})

describe('mlship bench --local', () => {
  it('serves the model in this process and reports its execution provider and time to ready', async () => {
    const {stdout} = await runCommand([
      'bench',
      'examples/iris',
      '--local',
      '--rate',
      '50',
      '--duration',
      '1',
      '--warmup',
      '1',
      '--json',
    ])
    const result = JSON.parse(stdout) as BenchResult
    expect(result.target.kind).toBe('local')
    expect(result.target.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/predict$/)
    const [run] = result.runs
    expect(run!.device).toBe('cpu')
    expect(run!.executionProvider).toBe('cpu')
    expect(run!.timeToReadyMs).toBeGreaterThan(0)
    expect(run!.steps[0]!.ok).toBe(50)
  })

  it.skipIf(existsSync('/dev/nvidiactl'))('says plainly that no GPU is usable and reports the CPU alone', async () => {
    const {stdout} = await runCommand([
      'bench',
      'examples/iris',
      '--local',
      '--devices',
      'cpu,gpu',
      '--rate',
      '20',
      '--duration',
      '1',
      '--warmup',
      '0',
      '--json',
    ])
    const result = JSON.parse(stdout) as BenchResult
    expect(result.gpu.requested).toBe(true)
    expect(result.gpu.usable).toBe(false)
    expect(result.gpu.reason).toMatch(/CUDA/)
    expect(result.runs.map((r) => r.device)).toEqual(['cpu'])
  })
})
