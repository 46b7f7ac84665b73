import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {DEFAULT_SLO, type StepResult} from '../bench/step-result.js'
import {LoadGenerator} from '../bench/generator.js'
import {createHistogram, type LatencySummary, recordMs, summarize} from '../bench/histogram.js'
import {inProcessTarget} from '../bench/in-process-target.js'
import {payloadsFromSignature} from '../bench/payload.js'
import {probeEndpoint} from '../bench/target.js'
import {type HeadlessChromium, launchChromium} from '../browser/chromium.js'
import {errorMessage, MlshipError} from '../errors.js'
import {loadModelProject} from '../model/load-model.js'
import {buildWebBundle} from './build-web.js'
import type {RuntimeInfo, WebBackend} from './config.js'
import {startStaticServer} from './static-server.js'

export interface WebBenchOptions {
  /** The model directory. */
  dir: string
  /** Predictions per second offered in the page (open loop: on a schedule, latency from the scheduled time). */
  rate: number
  durationMs: number
  warmupMs: number
  /** Fresh page loads measured for page-load-to-first-prediction (each in a new browser context: cold caches). */
  loads: number
  backend?: WebBackend
  /** Serve the page cross-origin isolated (threads allowed); default true. */
  isolate?: boolean
  /** Also measure the model's server on this machine at the same rate with the same body (default true). */
  compareServer?: boolean
  /** Server inference workers (default: serving.workers of model.yaml). */
  workers?: number
  /** A running browser (tests); launched (and closed) here when absent. */
  chromium?: HeadlessChromium
  signal?: AbortSignal
  onNote?: (message: string) => void
}

/** The open-loop measurement of one side: per-prediction latency from each prediction's scheduled time. */
export interface SideLatency {
  latencyMs: LatencySummary
  ok: number
  errors: number
  /** Predictions started more than 10 ms after their scheduled time (the side could not keep the schedule). */
  late: number
}

/** The --json shape of `mlship bench --target web`. Keys are a stable interface: later versions only add keys. */
export interface WebBenchResult {
  schemaVersion: 1
  target: 'web'
  model: {name: string; version: string}
  payload: {source: string; batchSize: number | null}
  settings: {rate: number; durationS: number; warmupS: number; loads: number; crossOriginIsolated: boolean}
  bundle: {backend: WebBackend; onnxruntimeWeb: string; totalBytes: number; runtimeBytes: number; modelBytes: number}
  browser: {name: 'chromium'; version: string}
  /** Edge: the model in headless Chromium, no network between the page and the model. */
  web: SideLatency & {
    runtime: RuntimeInfo
    /** Navigation start to the first answer of predict(): runtime and model fetched, compiled, loaded, warmed up. */
    pageLoadToFirstPredictionMs: {median: number; runs: number[]}
    /** Navigation start to `ready`. */
    readyMs: {median: number; runs: number[]}
  }
  /** Cloud: the same model's server in this process, over HTTP on 127.0.0.1; null with compareServer false. */
  server: (SideLatency & {timeToReadyMs: number | null; executionProvider: string | null}) | null
}

const HARNESS_PATH = '/__mlship/bench.html'

/** What the harness's __mlshipRun returns: the latencies of the measured predictions, ms. */
interface ScheduleResult {
  errors: number
  late: number
  latencies: number[]
}

/**
 * The harness page: imports the bundle's predict.js like any page would, predicts the body once, and records when
 * (performance.now() counts from the navigation's start). Then __mlshipRun({rate, durationMs, warmupMs, bodies})
 * predicts on a constant schedule, each latency from its scheduled time. Plain JavaScript in a string: a function
 * handed to page.evaluate would carry whatever helpers the TypeScript toolchain wrapped it in.
 */
function harnessPage(body: string): string {
  return `<!doctype html><meta charset="utf-8"><title>mlship bench</title><link rel="icon" href="data:,">
<script type="application/json" id="body">${body.replaceAll('<', '\\u003c')}</script>
<script type="module">
import {ready, predict} from '/predict.js'
// scheduler.postTask's delay is not clamped the way nested setTimeouts are (4 ms after five levels).
const sleep = (ms) => globalThis.scheduler
  ? globalThis.scheduler.postTask(() => undefined, {delay: ms})
  : new Promise((resolve) => setTimeout(resolve, ms))
window.__mlshipRun = async ({rate, durationMs, warmupMs, bodies}) => {
  const parsed = bodies.map((b) => JSON.parse(b))
  const gap = 1000 / rate
  const start = performance.now() + 20
  const latencies = []
  let late = 0
  let errors = 0
  const pending = []
  for (let i = 0; ; i++) {
    const scheduled = start + i * gap
    if (scheduled - start >= warmupMs + durationMs) break
    const wait = scheduled - performance.now()
    if (wait > 0) await sleep(wait)
    const measured = scheduled - start >= warmupMs
    if (measured && performance.now() - scheduled > 10) late++
    pending.push(predict(parsed[i % parsed.length]).then(
      () => { if (measured) latencies.push(performance.now() - scheduled) },
      () => { if (measured) errors++ },
    ))
  }
  await Promise.all(pending)
  return {errors, late, latencies}
}
const body = JSON.parse(document.getElementById('body').textContent)
try {
  const runtime = await ready
  const readyMs = performance.now()
  await predict(body)
  window.__mlshipFirst = {firstPredictionMs: performance.now(), readyMs, runtime}
} catch (error) {
  window.__mlshipFirst = {error: String(error && error.message || error)}
}
</script>`
}

/**
 * `mlship bench --target web`: edge against cloud on this machine. The web bundle is built and served (COOP/COEP),
 * headless Chromium loads it `loads` times from cold (page-load-to-first-prediction), then predicts on an open-loop
 * schedule at `rate`; the model's server is measured at the same rate with the same body by the load generator.
 */
export async function runWebBench(options: WebBenchOptions): Promise<WebBenchResult> {
  const project = await loadModelProject(options.dir)
  const payloads = payloadsFromSignature(project.signature, {count: 16})
  const isolate = options.isolate ?? true
  const bundleDir = await mkdtemp(path.join(os.tmpdir(), 'mlship-web-bench-'))
  const closers: Array<() => Promise<unknown>> = [() => rm(bundleDir, {force: true, recursive: true})]
  try {
    const bundle = await buildWebBundle({backend: options.backend, dir: options.dir, outputDir: bundleDir, project})

    let server: WebBenchResult['server'] = null
    if (options.compareServer ?? true) server = await measureServer(options, payloads.bodies)
    if (options.signal?.aborted) throw interrupted()

    const staticServer = await startStaticServer({
      dir: bundleDir,
      extraPages: {[HARNESS_PATH]: harnessPage(payloads.bodies[0]!)},
      isolate,
    })
    closers.push(() => staticServer.close())
    const chromium = options.chromium ?? (await launchChromium())
    if (!options.chromium) closers.push(() => chromium.close())

    const loads: Array<{firstPredictionMs: number; readyMs: number; runtime: RuntimeInfo}> = []
    let measured: ScheduleResult | undefined
    for (let i = 0; i < options.loads; i++) {
      if (options.signal?.aborted) throw interrupted()
      const page = await chromium.newPage()
      try {
        await page.goto(`${staticServer.url}${HARNESS_PATH}`)
        const handle = await page.waitForFunction('window.__mlshipFirst', null, {timeout: 120_000})
        const first = (await handle.jsonValue()) as (typeof loads)[number] & {error?: string}
        if (first.error) {
          throw new MlshipError(`The page could not predict: ${first.error}`, {code: 'WEB_BENCH_FAILED'})
        }
        loads.push(first)
        if (i === options.loads - 1) {
          options.onNote?.(
            `Predicting in the page at ${options.rate}/s for ${(options.durationMs / 1000).toFixed(0)} s...`,
          )
          const schedule = {
            bodies: payloads.bodies,
            durationMs: options.durationMs,
            rate: options.rate,
            warmupMs: options.warmupMs,
          }
          measured = await page.evaluate<ScheduleResult>(`window.__mlshipRun(${JSON.stringify(schedule)})`)
        }
      } finally {
        await page.close()
      }
    }
    const histogram = createHistogram()
    for (const ms of measured!.latencies) recordMs(histogram, ms)
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b)
      const mid = Math.floor(sorted.length / 2)
      return round(sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2)
    }
    const firstRuns = loads.map((l) => round(l.firstPredictionMs))
    const readyRuns = loads.map((l) => round(l.readyMs))
    return {
      browser: {name: 'chromium', version: chromium.version},
      bundle: {
        backend: bundle.backend,
        modelBytes: bundle.sizes.modelBytes,
        onnxruntimeWeb: bundle.onnxruntimeWeb,
        runtimeBytes: bundle.sizes.runtimeBytes,
        totalBytes: bundle.sizes.totalBytes,
      },
      model: {name: project.config.name, version: project.config.version},
      payload: {batchSize: payloads.batchSize, source: payloads.source},
      schemaVersion: 1,
      server,
      settings: {
        crossOriginIsolated: isolate,
        durationS: options.durationMs / 1000,
        loads: options.loads,
        rate: options.rate,
        warmupS: options.warmupMs / 1000,
      },
      target: 'web',
      web: {
        errors: measured!.errors,
        late: measured!.late,
        latencyMs: summarize(histogram),
        ok: measured!.latencies.length,
        pageLoadToFirstPredictionMs: {median: median(firstRuns), runs: firstRuns},
        readyMs: {median: median(readyRuns), runs: readyRuns},
        runtime: loads.at(-1)!.runtime,
      },
    }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined)
  }
}

async function measureServer(
  options: WebBenchOptions,
  bodies: string[],
): Promise<NonNullable<WebBenchResult['server']>> {
  options.onNote?.(
    `Measuring the server (in this process) at ${options.rate}/s for ${(options.durationMs / 1000).toFixed(0)} s...`,
  )
  const target = await inProcessTarget({dir: options.dir, workers: options.workers}).start('cpu')
  const generator = LoadGenerator.start()
  try {
    const headers = {'content-type': 'application/json', ...target.headers}
    await probeEndpoint({body: bodies[0], headers, method: 'POST', url: target.url})
    const step: StepResult = await generator.step(
      {
        arrival: 'constant',
        bodies,
        connections: 8,
        durationMs: options.durationMs,
        headers,
        lateThresholdMs: 10,
        method: 'POST',
        rate: options.rate,
        timeoutMs: 5000,
        url: target.url,
        warmupMs: options.warmupMs,
      },
      DEFAULT_SLO,
    )
    return {
      errors: step.errors.total,
      executionProvider: target.executionProvider,
      late: step.generator.late,
      latencyMs: step.latencyMs,
      ok: step.ok,
      timeToReadyMs: target.timeToReadyMs,
    }
  } catch (error) {
    throw new MlshipError(`Measuring the server failed: ${errorMessage(error)}`, {
      cause: error,
      code: 'WEB_BENCH_FAILED',
    })
  } finally {
    await generator.close()
    await target.close()
  }
}

function interrupted(): MlshipError {
  return new MlshipError('Interrupted', {code: 'BENCH_INTERRUPTED'})
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}
