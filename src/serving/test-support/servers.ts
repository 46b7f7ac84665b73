/**
 * Real serving apps for the tests that talk to them over HTTP (inference-pipeline.test.ts and its component test):
 * model directories written to a temporary folder, started on an ephemeral port, and the few requests the tests send.
 */
import {readFileSync} from 'node:fs'
import {mkdtemp, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {Writable} from 'node:stream'
import {expect} from 'vitest'
import {parse, stringify} from 'yaml'

import {type RunningServer, startServer, type StartServerOptions} from '../server.js'

const root = path.resolve(import.meta.dirname, '../../..')
export const DIGITS = path.join(root, 'examples/digits-mlp')
export const IRIS_MODEL = path.join(root, 'examples/iris/model.onnx')
export const SLOW_MODEL = path.join(root, 'test/fixtures/slow/model.onnx')
export const IRIS = path.join(root, 'examples/iris')
/** A model directory of test/fixtures (slow, multi, dtypes, embedding, ...). */
export const fixture = (name: string) => path.join(root, 'test/fixtures', name)

/** A model directory under `work` whose model.yaml points at an existing model file, with the given settings. */
export async function writeProject(work: string, name: string, config: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(work, `${name}-`))
  await writeFile(path.join(dir, 'model.yaml'), stringify({...config, name, version: '1.0.0'}))
  return dir
}

/** examples/digits-mlp/model.yaml, with the model file given by its absolute path. */
export async function digitsConfig(): Promise<Record<string, unknown>> {
  const config = parse(await readFile(path.join(DIGITS, 'model.yaml'), 'utf8')) as Record<string, unknown>
  return {...config, model: {file: path.join(DIGITS, 'model.onnx')}}
}

/** The 64 pixel columns of a CSV of examples/digits-mlp. */
export function digitsRows(file: string): number[][] {
  return readFileSync(path.join(DIGITS, file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',').slice(0, 64).map(Number))
}

/**
 * close()'s options for a test that has read every answer it waited for: no request is on its way, so the server need
 * not linger (1 s by default) for one on the keep-alive connections that fetch leaves open. Tests of the shutdown
 * itself (connections.test.ts, server.test.ts) pass their own.
 */
export const CLOSE_AT_ONCE = {lingerMs: 0} as const

/** startServer on 127.0.0.1 and an ephemeral port, without a log unless the test gives one. */
export async function startLocalServer(dir: string, options: Partial<StartServerOptions> = {}): Promise<RunningServer> {
  return startServer({dir, host: '127.0.0.1', logger: false, port: 0, ...options})
}

/** startLocalServer without the process metrics (the pipeline's tests read only their own). */
export async function startTestServer(dir: string, extra: Partial<StartServerOptions> = {}): Promise<RunningServer> {
  return startLocalServer(dir, {pipeline: {processMetrics: false}, ...extra})
}

/**
 * A backend that holds requests while `holding` is on: each waits until `release()`, and `arrived` resolves once
 * `count` of them are held. The tests of a shutdown use it to have requests in flight when close() begins.
 */
export function heldBackend(count: number): {
  wrapBackend: NonNullable<StartServerOptions['wrapBackend']>
  hold: () => void
  arrived: Promise<void>
  release: () => void
} {
  let holding = false
  let held = 0
  let allArrived!: () => void
  const arrived = new Promise<void>((resolve) => (allArrived = resolve))
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  return {
    arrived,
    hold: () => {
      holding = true
    },
    release,
    wrapBackend: (backend) => ({
      close: () => backend.close(),
      info: backend.info,
      run: async (feeds, options) => {
        if (holding) {
          if (++held === count) allArrived()
          await released
        }
        return backend.run(feeds, options)
      },
    }),
  }
}

/**
 * POST a JSON body (a string is sent as it is), and the answer's JSON ({} for an empty answer), typed as `Body` says
 * (a test that reads deep into the answer may take it as `any`).
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the answer it reads
export async function post<Body = Record<string, unknown>>(
  url: string,
  body: unknown,
  headers: Record<string, string> = {'content-type': 'application/json'},
): Promise<{status: number; headers: Headers; body: Body; ms: number}> {
  const started = performance.now()
  const response = await fetch(url, {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers,
    method: 'POST',
  })
  const text = await response.text()
  return {
    body: (text ? JSON.parse(text) : {}) as Body,
    headers: response.headers,
    ms: performance.now() - started,
    status: response.status,
  }
}

/** GET /metrics, checked to be the Prometheus text format. */
export async function scrape(server: RunningServer): Promise<string> {
  const response = await fetch(`${server.url}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return response.text()
}

/** A line of the server's JSON log, with the fields the tests read. */
export interface LogLine {
  [field: string]: unknown
  level: number
  msg: string
  route?: string
  shed?: {refused: number}
  status?: number
}

/** A pino destination that keeps the JSON lines it is given. */
export function logLines(): {lines: LogLine[]; sink: Writable} {
  const lines: LogLine[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine)
      done()
    },
  })
  return {lines, sink}
}
