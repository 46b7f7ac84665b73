import {once} from 'node:events'
import {mkdtemp, rm} from 'node:fs/promises'
import net from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import pino from 'pino'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {readSample, sumSamples} from '../monitoring/test-support/exposition.js'
import {startServer} from './server.js'
import {
  CLOSE_AT_ONCE,
  IRIS_MODEL,
  digitsConfig,
  digitsRows as csvRows,
  logLines,
  post,
  scrape,
  startTestServer as start,
  writeProject,
} from './test-support/servers.js'

let work: string
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mlship-inference-pipeline-'))
})
afterAll(async () => {
  await rm(work, {force: true, recursive: true})
})

const project = (name: string, config: Record<string, unknown>) => writeProject(work, name, config)

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
      // Back to the first series (the plugin keeps the latest series at hand).
      expect((await post(`${server.url}/predict`, {features: [seven]})).status).toBe(200)

      const after = await scrape(server)
      expect(readSample(after, 'mlship_http_requests_total', labels)).toBe(4)
      expect(readSample(after, 'mlship_http_request_duration_seconds_count', labels)).toBe(4)
      expect(readSample(after, 'mlship_http_request_duration_seconds_sum', labels)).toBeGreaterThan(0)
      expect(readSample(after, 'mlship_http_requests_total', {...labels, status: '400'})).toBe(1)
      expect(readSample(after, 'mlship_http_request_errors_total', {...labels, status: '400'})).toBe(1)
      expect(readSample(after, 'mlship_http_request_errors_total', labels)).toBeUndefined()
      expect(readSample(after, 'mlship_inference_duration_seconds_count')).toBe(4 + 1)
      expect(readSample(after, 'mlship_predictions_total', {class: '7', output: 'probabilities'})).toBe(4)
      expect(readSample(after, 'mlship_inference_queue_depth')).toBe(0)
      // The scrape in flight counts itself.
      expect(readSample(after, 'mlship_http_requests_in_flight')).toBe(1)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })

  it('counts a request out of flight when its client goes away after sending the whole body', async () => {
    // Given a server whose backend holds the request (not the warm-up) until the test lets it go
    let hold = false
    let arrived!: () => void
    const held = new Promise<void>((resolve) => (arrived = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const server = await start(await project('abandoned', {model: {file: IRIS_MODEL}, serving: {workers: 1}}), {
      wrapBackend: (backend) => ({
        close: () => backend.close(),
        info: backend.info,
        run: async (feeds, options) => {
          if (hold) {
            arrived()
            await released
          }
          return backend.run(feeds, options)
        },
      }),
    })
    hold = true
    try {
      // When a client sends a complete request and goes away while it is being answered (a client timeout)
      const answered = once(server.app.server, 'request').then(([, response]) => once(response as net.Socket, 'close'))
      const socket = net.connect(server.port, '127.0.0.1')
      await once(socket, 'connect')
      const body = JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]})
      socket.end(
        `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      )
      await held
      socket.destroy()
      await answered
      release()
      // Then it is no longer counted in flight (before: neither hook ran, and the gauge kept it for ever)
      const text = await scrape(server)
      expect(readSample(text, 'mlship_http_requests_in_flight')).toBe(1)
      expect(readSample(text, 'mlship_http_requests_total', {method: 'POST', route: '/predict', status: '499'})).toBe(1)
    } finally {
      release()
      await server.close(CLOSE_AT_ONCE)
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
      await Promise.all([on.close(CLOSE_AT_ONCE), off.close(CLOSE_AT_ONCE)])
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
      await server.close(CLOSE_AT_ONCE)
    }
  })
})

describe('drift', () => {
  it('stays low for held-out data, rises and logs a warning for shifted data', async () => {
    const {lines, sink} = logLines()
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
      await server.close(CLOSE_AT_ONCE)
    }
  })
})
