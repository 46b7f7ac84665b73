import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {request} from 'undici'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {BenchResult, TargetStarter} from '../bench.js'
import {DEFAULT_SLO} from '../step-result.js'
import {urlTarget} from '../target.js'
import {runBenchUi} from './bench-ui.js'
import type {WireEvent, WireWindow} from './client/wire.js'

/** Reads the page's event stream as the browser does, and lets a test wait for the event it expects. */
async function follow(url: string) {
  const events: WireEvent[] = []
  const waiters: Array<{test: (e: WireEvent) => boolean; resolve: (e: WireEvent) => void}> = []
  const response = await request(url, {headers: {accept: 'text/event-stream'}})
  expect(response.headers['content-type']).toMatch(/^text\/event-stream/)
  let buffer = ''
  let ended = false
  const done = (async () => {
    for await (const chunk of response.body) {
      buffer += String(chunk)
      let split: number
      while ((split = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, split)
        buffer = buffer.slice(split + 2)
        const data = message
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n')
        if (!data) continue
        const event = JSON.parse(data) as WireEvent
        events.push(event)
        for (const waiter of [...waiters]) {
          if (waiter.test(event)) {
            waiters.splice(waiters.indexOf(waiter), 1)
            waiter.resolve(event)
          }
        }
      }
    }
    ended = true
  })()
  return {
    done,
    get ended() {
      return ended
    },
    events,
    /** Waits for `count` more windows from now. */
    windows: (count: number) => {
      let left = count
      return new Promise<void>((resolve) =>
        waiters.push({
          resolve: () => resolve(),
          test: (e) => e.type === 'window' && --left <= 0,
        }),
      )
    },
    next: <T extends WireEvent>(test: (e: WireEvent) => boolean) =>
      new Promise<T>((resolve) => {
        const seen = events.find(test)
        if (seen) resolve(seen as T)
        else waiters.push({resolve: resolve as (e: WireEvent) => void, test})
      }),
  }
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await request(url, {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: {'content-type': 'application/json', ...headers},
    method: 'POST',
  })
  return {body: (await response.body.json()) as Record<string, unknown>, status: response.statusCode}
}

describe('bench --ui: the session behind the page, over HTTP', () => {
  let server: Server
  let endpoint: string
  let tmp: string
  let payload: string
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'mlship-bench-ui-'))
    payload = path.join(tmp, 'body.json')
    await writeFile(payload, '{"features": [[1, 2, 3, 4]]}')
    // A server of the test's own: answers /predict in 2 ms, and has no /metrics (not an mlship server)
    server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        if (req.url !== '/predict') {
          res.statusCode = 404
          res.end()
          return
        }
        setTimeout(() => res.end('{"predictions": [1]}'), 2)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await rm(tmp, {force: true, recursive: true})
  })

  it('serves the page, streams windows, takes the controls, runs the sweep, saves the report, stops cleanly', async () => {
    const starter: TargetStarter = {
      gpuUnavailableReason: () => Promise.resolve(null),
      kind: 'url',
      start: () => urlTarget(endpoint),
    }
    const stop = new AbortController()
    let readyResolve: (url: string) => void = () => {}
    const ready = new Promise<string>((resolve) => (readyResolve = resolve))
    const runningResult: Promise<BenchResult> = runBenchUi(
      {
        arrival: 'constant',
        connections: 16,
        devices: ['cpu'],
        durationMs: 600,
        lateThresholdMs: 10,
        maxRate: 1000,
        method: 'POST',
        payloadFile: payload,
        port: 0,
        rate: 20,
        signal: stop.signal,
        slo: DEFAULT_SLO,
        starter,
        sweep: {cooldownMs: 200, maxDurationMs: 20_000, maxRate: 80, startRate: 40},
        timeoutMs: 2000,
        warmupMs: 200,
        windowMs: 250,
      },
      {
        onReady: (url) => readyResolve(url),
      },
    )
    const pageUrl = await Promise.race([
      ready,
      runningResult.then(() => {
        throw new Error('the session ended before its page was up')
      }),
    ])
    expect(pageUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)

    // The page and its assets: one script with uPlot bundled in, nothing from a CDN
    const page = await (await request(pageUrl)).body.text()
    for (const id of [
      'rate',
      'device-cpu',
      'device-gpu',
      'achieved-rps',
      'p50-ms',
      'p99-ms',
      'error-rate',
      'find-knee',
    ])
      expect(page).toContain(`data-testid="${id}"`)
    expect(page).not.toMatch(/(src|href)="https?:/)
    const script = await (await request(new URL('/app.js', pageUrl))).body.text()
    expect(script.startsWith('/*! mlship bench --ui; includes uPlot 1.')).toBe(true)
    expect(script.length).toBeGreaterThan(30_000)
    expect(/https?:\/\/(?!github\.com\/leeoniya)/.test(script)).toBe(false)

    // The stream starts with a snapshot: the GPU is off, with the reason; the gauges are missing, with the reason
    const stream = await follow(new URL('/events', pageUrl).toString())
    const snapshot = await stream.next<Extract<WireEvent, {type: 'snapshot'}>>((e) => e.type === 'snapshot')
    expect(snapshot.config.devices.gpu).toMatchObject({available: false})
    expect(snapshot.config.devices.gpu.reason).toContain('--url')
    expect(snapshot.state).toMatchObject({device: 'cpu', rate: 20, sweeping: false})
    await stream.next((e) => e.type === 'state' && e.state.gaugesUnavailable !== null)

    // A rate change reaches the generator at once
    const changed = await post(new URL('/api/rate', pageUrl).toString(), {rate: 120})
    expect(changed).toMatchObject({body: {rate: 120}, status: 200})
    const window = await stream.next<{type: 'window'; window: WireWindow}>(
      (e) => e.type === 'window' && e.window.rate === 120 && e.window.achievedRps >= 100,
    )
    expect(window.window.errors).toBe(0)

    // Controls refuse what they cannot do, and requests that are not the page's
    expect(await post(new URL('/api/device', pageUrl).toString(), {device: 'gpu'})).toMatchObject({status: 400})
    expect(await post(new URL('/api/rate', pageUrl).toString(), {rate: 5000})).toMatchObject({status: 400})
    expect(
      await post(new URL('/api/rate', pageUrl).toString(), '{"rate": 1}', {'content-type': 'text/plain'}),
    ).toMatchObject({status: 415})
    expect(await post(new URL('/api/rate', pageUrl).toString(), {rate: 1}, {host: 'attacker.example'})).toMatchObject({
      status: 403,
    })
    expect(
      await post(new URL('/api/rate', pageUrl).toString(), {rate: 1}, {origin: 'http://attacker.example'}),
    ).toMatchObject({status: 403})

    // Find the knee: bench's sweep, step by step on the stream; the slider is the sweep's until it ends
    expect((await post(new URL('/api/find-knee', pageUrl).toString(), {})).body).toMatchObject({sweeping: true})
    expect(await post(new URL('/api/rate', pageUrl).toString(), {rate: 10})).toMatchObject({status: 409})
    const knee = await stream.next<Extract<WireEvent, {type: 'knee'}>>((e) => e.type === 'knee')
    expect(knee.error).toBeUndefined()
    const steps = stream.events.filter((e) => e.type === 'sweep-step' && e.step.verdict !== undefined)
    expect(steps.length).toBeGreaterThanOrEqual(1)
    expect(knee.knee?.note).toMatch(/req\/s/)
    // Back to the rate the slider had
    await stream.next((e) => e.type === 'state' && !e.state.sweeping && e.state.rate === 120)

    // (held for over a second, the live segment at 120 req/s counts as a step of the session)
    await stream.windows(8)

    // The session saved as the --html report
    const report = await request(new URL('/api/report', pageUrl))
    expect(report.headers['content-disposition']).toMatch(/^attachment; filename="mlship-bench-.*\.html"$/)
    const html = await report.body.text()
    expect(html).toContain('<h2>Latency against offered rate</h2>')
    expect(html).toContain('Steps: server')

    // Ctrl-C: the stream says goodbye and ends, the result holds the sweep's steps and the live segments
    stop.abort()
    const result = await runningResult
    await stream.done
    expect(stream.events.at(-1)).toEqual({type: 'bye'})
    expect(result.mode).toBe('sweep')
    expect(result.runs).toHaveLength(1)
    const rates = result.runs[0]!.steps.map((s) => s.offeredRps)
    expect(rates).toContain(40)
    expect(rates).toContain(120)
    expect(result.runs[0]!.knee?.note).toBe(knee.knee?.note)
    expect(result.gpu).toMatchObject({requested: false, usable: false})
    // The page is gone
    await expect(request(pageUrl)).rejects.toThrow()
  })

  it('keeps a server warm on each device and moves the load between them at once', async () => {
    // Given two servers of the test's own standing for the CPU and the GPU servers mlship would start
    const gpuHits = {count: 0}
    const gpu = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        gpuHits.count++
        res.end('{"predictions": [1]}')
      })
    })
    await new Promise<void>((resolve) => gpu.listen(0, '127.0.0.1', resolve))
    const gpuEndpoint = `http://127.0.0.1:${(gpu.address() as AddressInfo).port}/predict`
    const starter: TargetStarter = {
      gpuUnavailableReason: () => Promise.resolve(null),
      kind: 'local',
      start: (device) =>
        Promise.resolve({
          close: () => Promise.resolve(),
          device,
          executionProvider: device === 'gpu' ? 'cuda' : 'cpu',
          headers: {},
          imageSizeBytes: null,
          kind: 'local' as const,
          timeToReadyMs: 1,
          url: device === 'gpu' ? gpuEndpoint : endpoint,
        }),
    }
    const stop = new AbortController()
    let announce: (url: string) => void = () => {}
    const ready = new Promise<string>((resolve) => (announce = resolve))
    const session = runBenchUi(
      {
        arrival: 'constant',
        connections: 8,
        devices: ['cpu', 'gpu'],
        durationMs: 500,
        lateThresholdMs: 10,
        maxRate: 1000,
        method: 'POST',
        payloadFile: payload,
        port: 0,
        rate: 50,
        signal: stop.signal,
        slo: DEFAULT_SLO,
        starter,
        sweep: {},
        timeoutMs: 2000,
        warmupMs: 200,
        windowMs: 250,
      },
      {onReady: (url) => announce(url)},
    )
    try {
      const pageUrl = await ready
      const stream = await follow(new URL('/events', pageUrl).toString())
      const snapshot = await stream.next<Extract<WireEvent, {type: 'snapshot'}>>((e) => e.type === 'snapshot')
      expect(snapshot.config.devices.gpu).toMatchObject({available: true, executionProvider: 'cuda'})
      await stream.next((e) => e.type === 'window' && e.window.target === 'cpu' && e.window.achievedRps > 0)

      // When the switch goes to the GPU
      const before = gpuHits.count
      expect(await post(new URL('/api/device', pageUrl).toString(), {device: 'gpu'})).toMatchObject({
        body: {device: 'gpu'},
        status: 200,
      })

      // Then the load moves there at once, and the switch is marked on the charts
      await stream.next((e) => e.type === 'window' && e.window.target === 'gpu' && e.window.achievedRps >= 40)
      expect(gpuHits.count).toBeGreaterThan(before)
      expect(stream.events.some((e) => e.type === 'marker' && e.marker.label === 'switched to GPU')).toBe(true)
      // (held there for over a second: a step of the GPU's run)
      await stream.windows(8)
    } finally {
      stop.abort()
      const result = await session
      gpu.closeAllConnections()
      await new Promise((resolve) => gpu.close(resolve))
      // One run per device, the GPU's with the rate held there
      expect(result.runs.map((run) => run.device)).toEqual(['cpu', 'gpu'])
      expect(result.runs[1]!.steps.map((step) => step.offeredRps)).toEqual([50])
      expect(result.gpu).toMatchObject({requested: true, usable: true})
    }
  })
})
