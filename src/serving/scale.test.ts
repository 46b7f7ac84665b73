import {readFileSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Writable} from 'node:stream'
import pino from 'pino'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'

import {readSample, sumSamples} from '../monitoring/exposition.js'
import {type RunningServer, startServer, type StartServerOptions} from './server.js'

const root = path.resolve(import.meta.dirname, '../..')
const DIGITS = path.join(root, 'examples/digits-mlp')
const IRIS_MODEL = path.join(root, 'examples/iris/model.onnx')
const SLOW_MODEL = path.join(root, 'test/fixtures/slow/model.onnx')

let work: string
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mlship-scale-'))
})
afterAll(async () => {
  await rm(work, {force: true, recursive: true})
})

/** A model directory whose model.yaml points at an existing model file, with the given settings. */
async function project(name: string, config: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(work, `${name}-`))
  await writeFile(path.join(dir, 'model.yaml'), stringify({...config, name, version: '1.0.0'}))
  return dir
}

async function digitsConfig(): Promise<Record<string, unknown>> {
  const config = parse(await readFile(path.join(DIGITS, 'model.yaml'), 'utf8')) as Record<string, unknown>
  return {...config, model: {file: path.join(DIGITS, 'model.onnx')}}
}

function csvRows(file: string): number[][] {
  return readFileSync(path.join(DIGITS, file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',').slice(0, 64).map(Number))
}

async function start(dir: string, extra: Partial<StartServerOptions> = {}): Promise<RunningServer> {
  return startServer({dir, host: '127.0.0.1', logger: false, port: 0, scale: {processMetrics: false}, ...extra})
}

async function post(
  url: string,
  body: unknown,
): Promise<{status: number; headers: Headers; body: Record<string, unknown>; ms: number}> {
  const started = performance.now()
  const response = await fetch(url, {
    body: JSON.stringify(body),
    headers: {'content-type': 'application/json'},
    method: 'POST',
  })
  const text = await response.text()
  return {
    body: JSON.parse(text) as Record<string, unknown>,
    headers: response.headers,
    ms: performance.now() - started,
    status: response.status,
  }
}

async function scrape(server: RunningServer): Promise<string> {
  const response = await fetch(`${server.url}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return response.text()
}

describe('dynamic batching over HTTP', () => {
  it('answers concurrent requests of mixed batch sizes exactly as the unbatched server does, in fewer inferences', async () => {
    const config = await digitsConfig()
    const batched = await start(await project('batched', {...config, serving: {batching: {enabled: true}, workers: 1}}))
    const unbatched = await start(
      await project('unbatched', {...config, serving: {batching: {enabled: false}, workers: 1}}),
    )
    try {
      const rows = csvRows('test.csv')
      const requests = Array.from({length: 48}, (_, i) => rows.slice(i * 3, i * 3 + (i % 4) + 1))
      const send = (server: RunningServer) =>
        Promise.all(requests.map((features) => post(`${server.url}/predict`, {features})))
      const [a, b] = await Promise.all([send(batched), send(unbatched)])
      expect(a.map((r) => r.status)).toEqual(requests.map(() => 200))
      for (let i = 0; i < requests.length; i++) expect(a[i]!.body.predictions).toEqual(b[i]!.body.predictions)
      expect((a[0]!.body.predictions as unknown[]).length).toBe(1)

      const text = await scrape(batched)
      const inferences = readSample(text, 'mlship_inference_batch_requests_count')!
      expect(readSample(text, 'mlship_inference_batch_requests_sum')).toBe(48 + 1) // and the warm-up
      expect(inferences).toBeLessThan(48)
      expect(readSample(await scrape(unbatched), 'mlship_inference_batch_requests_count')).toBe(48 + 1)
    } finally {
      await Promise.all([batched.close(), unbatched.close()])
    }
  })
})

describe('/metrics', () => {
  it('moves as requests are served: requests, errors, durations, inferences, predictions per class', async () => {
    const server = await start(await project('metrics', {...(await digitsConfig()), serving: {workers: 1}}))
    try {
      const before = await scrape(server)
      const labels = {method: 'POST', route: '/predict', status: '200'}
      expect(readSample(before, 'mlship_http_requests_total', labels) ?? 0).toBe(0)
      expect(readSample(before, 'mlship_model_info', {name: 'metrics', version: '1.0.0'})).toBe(1)
      expect(readSample(before, 'mlship_model_load_duration_seconds')).toBeGreaterThan(0)
      expect(readSample(before, 'mlship_inference_workers')).toBe(1)

      const seven = csvRows('test.csv')[0]!
      for (let i = 0; i < 3; i++) expect((await post(`${server.url}/predict`, {features: [seven]})).status).toBe(200)
      expect((await post(`${server.url}/predict`, {features: [[1, 2]]})).status).toBe(400)

      const after = await scrape(server)
      expect(readSample(after, 'mlship_http_requests_total', labels)).toBe(3)
      expect(readSample(after, 'mlship_http_request_duration_seconds_count', labels)).toBe(3)
      expect(readSample(after, 'mlship_http_request_duration_seconds_sum', labels)).toBeGreaterThan(0)
      expect(readSample(after, 'mlship_http_request_errors_total', {...labels, status: '400'})).toBe(1)
      expect(readSample(after, 'mlship_inference_duration_seconds_count')).toBe(3 + 1)
      expect(readSample(after, 'mlship_predictions_total', {class: '7', output: 'probabilities'})).toBe(3)
      expect(readSample(after, 'mlship_inference_queue_depth')).toBe(0)
      // The scrape in flight counts itself.
      expect(readSample(after, 'mlship_http_requests_in_flight')).toBe(1)
    } finally {
      await server.close()
    }
  })

  it('exposes process CPU and memory, and is absent with monitoring.metrics false', async () => {
    const on = await startServer({
      dir: await project('process', {model: {file: IRIS_MODEL}}),
      host: '127.0.0.1',
      logger: false,
      port: 0,
    })
    const off = await start(await project('off', {model: {file: IRIS_MODEL}, monitoring: {metrics: false}}))
    try {
      const text = await scrape(on)
      expect(readSample(text, 'mlship_process_resident_memory_bytes')).toBeGreaterThan(10_000_000)
      expect(readSample(text, 'mlship_process_cpu_seconds_total')).toBeGreaterThan(0)
      expect((await fetch(`${off.url}/metrics`)).status).toBe(404)
    } finally {
      await Promise.all([on.close(), off.close()])
    }
  })
})

describe('overload', () => {
  const slow = (iterations: number) => ({inputs: {iterations: [iterations], x: [[1]]}})

  it('refuses requests past serving.max_queue at once with 503 and Retry-After, and serves the accepted ones', async () => {
    const lines: Array<{level: number; msg: string; route?: string; status?: number; shed?: {refused: number}}> = []
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n'))
          if (line) lines.push(JSON.parse(line) as (typeof lines)[number])
        done()
      },
    })
    const server = await start(
      await project('queue', {model: {file: SLOW_MODEL}, serving: {max_queue: 2, workers: 1}}),
      {logger: pino({level: 'info'}, sink)},
    )
    try {
      // About 7 s of work on a quiet machine: the queue stays full for the rest of the test, even on a loaded one.
      const accepted = [post(`${server.url}/predict`, slow(3_000_000))]
      // Three more are handed to the busy worker (the pipeline of a model that is not batched), two wait in the queue.
      for (let i = 1; i <= 5; i++) accepted.push(post(`${server.url}/predict`, slow(i)))
      let depth: number | undefined
      for (let i = 0; i < 250 && depth !== 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        depth = readSample(await scrape(server), 'mlship_inference_queue_depth')
      }
      expect(depth).toBe(2)
      const refused = await Promise.all(Array.from({length: 5}, () => post(`${server.url}/predict`, slow(3))))
      expect(refused.map((r) => r.status)).toEqual([503, 503, 503, 503, 503])
      expect(refused[0]!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
      expect(refused[0]!.body.error).toMatch(/at capacity .*serving\.max_queue is 2/)
      // The Open Inference Protocol route is refused at the door too; other routes are not.
      const v2 = await post(`${server.url}/v2/models/queue/infer`, {
        inputs: [{data: [3], datatype: 'INT64', name: 'iterations', shape: [1]}],
      })
      expect(v2.status).toBe(503)
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
      expect((await Promise.all(accepted)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200])

      // Server-side, from the request line to the last byte: each 503 is answered at once (under 5 ms on a quiet
      // machine, see BENCHMARKS.md). The bound here leaves room for a 2-core CI machine running other test files in
      // parallel; the slow requests still in the queue take seconds, so a refusal that waited for them would fail it.
      const text = await scrape(server)
      const labels = {method: 'POST', route: '/predict', status: '503'}
      expect(readSample(text, 'mlship_http_request_duration_seconds_bucket', {...labels, le: '0.25'})).toBe(5)
      expect(readSample(text, 'mlship_http_requests_total', {...labels, route: '/v2/models/:name/infer'})).toBe(1)
      expect(readSample(text, 'mlship_requests_rejected_total', {reason: 'queue_full'})).toBe(6)
    } finally {
      await server.close()
    }
    // The refusals are summed up in one warning, not logged one line each; the accepted requests keep theirs.
    const summaries = lines.filter((line) => line.shed)
    expect(summaries).toHaveLength(1)
    expect(summaries[0]).toMatchObject({level: 40, shed: {refused: 6}})
    expect(summaries[0]!.msg).toMatch(/shedding load: 6 requests refused with 503 .*serving\.max_queue is 2/)
    expect(lines.filter((line) => line.status === 503)).toHaveLength(0)
    expect(lines.filter((line) => line.route === '/predict' && line.status === 200)).toHaveLength(6)
  })

  it('answers 504 at serving.request_timeout_ms instead of waiting, and keeps serving', async () => {
    const server = await start(
      await project('deadline', {model: {file: SLOW_MODEL}, serving: {request_timeout_ms: 150, workers: 1}}),
    )
    try {
      const late = await post(`${server.url}/predict`, slow(600_000))
      expect(late.status).toBe(504)
      expect(late.body.error).toMatch(/did not finish within serving\.request_timeout_ms \(150 ms\)/)
      expect(late.ms).toBeLessThan(1000)
      // Once the stalled inference has finished in its worker, the server answers again.
      let status = 0
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = (await post(`${server.url}/predict`, slow(1))).status
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(status).toBe(200)
      expect(
        readSample(await scrape(server), 'mlship_requests_rejected_total', {reason: 'deadline'}),
      ).toBeGreaterThanOrEqual(1)
    } finally {
      await server.close()
    }
  })
})

describe('prediction cache', () => {
  it('answers a repeated request from the cache and counts hits and misses', async () => {
    const server = await start(
      await project('cache', {model: {file: IRIS_MODEL}, serving: {cache: {enabled: true, max_entries: 10}}}),
    )
    try {
      const body = {features: [[5.1, 3.5, 1.4, 0.2]]}
      const first = await post(`${server.url}/predict`, body)
      const second = await post(`${server.url}/predict`, body)
      await post(`${server.url}/predict`, {features: [[6.7, 3, 5.2, 2.3]]})
      expect(second.body.predictions).toEqual(first.body.predictions)
      const text = await scrape(server)
      expect(readSample(text, 'mlship_cache_hits_total')).toBe(1)
      expect(readSample(text, 'mlship_cache_misses_total')).toBe(2)
    } finally {
      await server.close()
    }
  })
})

describe('drift', () => {
  it('stays low for held-out data, rises and logs a warning for shifted data', async () => {
    const lines: Array<{level: number; msg: string}> = []
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n'))
          if (line) lines.push(JSON.parse(line) as {level: number; msg: string})
        done()
      },
    })
    const config = await digitsConfig()
    const dir = await project('drift', {
      ...config,
      monitoring: {...(config.monitoring as object), drift: {threshold: 0.2, window: 300}},
    })
    const server = await start(dir, {logger: pino({level: 'info'}, sink)})
    try {
      const rows = csvRows('test.csv').slice(0, 300)
      const sendAll = async (data: number[][]) => {
        for (let i = 0; i < data.length; i += 20)
          expect((await post(`${server.url}/predict`, {features: data.slice(i, i + 20)})).status).toBe(200)
      }
      const inputDrift = (text: string) =>
        Array.from(
          {length: 64},
          (_, i) =>
            readSample(text, 'mlship_feature_drift_psi', {feature: `p${i}`, kind: 'input', tensor: 'pixels'}) ?? 0,
        )

      await sendAll(rows)
      expect(Math.max(...inputDrift(await scrape(server)))).toBeLessThan(0.2)
      expect(lines.filter((l) => /^drift:/.test(l.msg))).toEqual([])

      await sendAll(rows.map((row) => row.map((v) => Math.min(16, v + 4))))
      const shifted = inputDrift(await scrape(server))
      expect(shifted.filter((psi) => psi > 0.2).length).toBeGreaterThan(20)
      const warnings = lines.filter(
        (l) => l.level === 40 && /^drift: input pixels\[p\d+\] has a population stability index/.test(l.msg),
      )
      expect(warnings.length).toBe(shifted.filter((psi) => psi > 0.2).length)
      expect(sumSamples(await scrape(server), 'mlship_nonfinite_outputs_total')).toBe(0)
    } finally {
      await server.close()
    }
  })
})
