import {monitorEventLoopDelay, performance} from 'node:perf_hooks'

import {
  createHistogram,
  encodeHistogram,
  type Histogram,
  type LatencySummary,
  recordMs,
  summarize,
} from './histogram.js'
import {type Arrival, arrivalGaps} from './schedule.js'
import {classifyError, type RequestOutcome, RequestSender} from './sender.js'

/** One open-loop load step: requests go out on a schedule whether or not earlier ones have answered. */
export interface LoadStepOptions {
  /** The full URL requests go to (origin and path). */
  url: string
  method: string
  headers: Record<string, string>
  /** Request bodies, sent in turn (undefined: no body). */
  bodies: ReadonlyArray<string | undefined>
  /** Offered rate, requests per second. */
  rate: number
  /** The measured window, after the warm-up. */
  durationMs: number
  /** Sent at the same rate before the measured window, and not recorded. */
  warmupMs: number
  arrival: Arrival
  /** A request that has not finished this long after its scheduled time is aborted and counted as a timeout. */
  timeoutMs: number
  /** Keep-alive connections in the pool; requests beyond them wait in the client's queue (and that wait counts). */
  connections: number
  /** A request sent more than this after its scheduled time was not sent in time (the generator lagged). */
  lateThresholdMs: number
  seed?: number
  /** How often progress is reported (0: never). */
  progressIntervalMs?: number
}

export type ErrorKind = 'status' | 'timeout' | 'connection' | 'other'

export interface StepProgress {
  phase: 'warmup' | 'measure' | 'drain'
  elapsedMs: number
  offeredRps: number
  /** Over the last interval: requests finished per second, all statuses. */
  throughputRps: number
  p50Ms: number
  p99Ms: number
  /** Measured requests so far that failed. */
  errors: number
  inFlight: number
}

/** What a step measured, as it crosses the worker boundary (histograms encoded). */
export interface RawStepResult {
  offeredRps: number
  arrival: Arrival
  durationMs: number
  warmupMs: number
  /** Measured requests (scheduled inside the measured window). */
  scheduled: number
  /** Measured requests sent within the window. */
  sentInWindow: number
  /** Requests that finished with a 2xx inside the window. */
  okInWindow: number
  /** From the window's start to the last 2xx of a measured request: how long the server took to answer the window. */
  okSpanMs: number
  /** Requests that finished inside the window, whatever the outcome. */
  finishedInWindow: number
  ok: number
  errorsByStatus: Record<string, number>
  errorsByKind: Record<ErrorKind, number>
  /** Measured requests sent later than lateThresholdMs after their scheduled time. */
  late: number
  lateThresholdMs: number
  /** Latency of every measured request, from its scheduled send time to its end (response, error or timeout), µs. */
  latency: string
  /** The same for the measured requests answered with a 2xx only: what accepted requests see under load shedding. */
  okLatency: string
  /** The same for the measured requests refused with 503 (load shedding): how fast refusals come. */
  shedLatency: string
  /** How late the generator sent each measured request, µs. */
  sendLag: string
  /** The generator's own event-loop delay during the step. */
  eventLoopDelay: {p99Ms: number; maxMs: number}
  /** Requests still unfinished when the step was closed (aborted, counted as timeouts). */
  abandoned: number
}

/**
 * Runs one step in the calling thread. Each latency is measured from the time the request was *scheduled*, not the
 * time it was sent, so a server stall (or a generator stall) cannot hide behind requests that were never sent
 * (coordinated omission). Every loop is bounded: scheduling stops at the end of the window, every request is aborted
 * at its deadline, and the pool is destroyed after the last deadline.
 */
export async function runLoadStep(
  options: LoadStepOptions,
  onProgress?: (progress: StepProgress) => void,
): Promise<RawStepResult> {
  const latency = createHistogram()
  const okLatency = createHistogram()
  const shedLatency = createHistogram()
  const sendLag = createHistogram()
  const interval = createHistogram()
  const loopDelay = monitorEventLoopDelay({resolution: 10})
  loopDelay.enable()

  const nextGap = arrivalGaps(options.arrival, options.rate, options.seed ?? 1)
  const start = performance.now() + 5
  const measureStart = start + options.warmupMs
  const measureEnd = measureStart + options.durationMs
  const errorsByStatus: Record<string, number> = {}
  const errorsByKind: Record<ErrorKind, number> = {connection: 0, other: 0, status: 0, timeout: 0}
  let scheduled = 0
  let sentInWindow = 0
  let okInWindow = 0
  let finishedInWindow = 0
  let ok = 0
  let lastOkAt = 0
  let late = 0
  let errors = 0
  let finishedInInterval = 0
  let sequence = 0
  let nextAt = start
  let settleAll: (() => void) | undefined

  const finish = (scheduledAt: number, measured: boolean, outcome: RequestOutcome) => {
    const now = performance.now()
    recordMs(interval, now - scheduledAt)
    finishedInInterval++
    const success = outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300
    // Throughput counts every response that ends inside the window, warm-up requests included: in a steady state
    // that is the rate the server sustains, without the edge loss of counting only requests scheduled inside it.
    if (now >= measureStart && now <= measureEnd) {
      finishedInWindow++
      if (success) okInWindow++
    }
    if (measured) {
      recordMs(latency, now - scheduledAt)
      if (success) {
        ok++
        lastOkAt = Math.max(lastOkAt, now)
        recordMs(okLatency, now - scheduledAt)
      } else {
        errors++
        if (outcome.status === 503) recordMs(shedLatency, now - scheduledAt)
        if (outcome.status === undefined) {
          errorsByKind[classifyError(outcome)]++
        } else {
          errorsByKind.status++
          errorsByStatus[String(outcome.status)] = (errorsByStatus[String(outcome.status)] ?? 0) + 1
        }
      }
    }
    if (sender.inFlight === 0 && nextAt >= measureEnd) settleAll?.()
  }
  const sender = new RequestSender<boolean>(options, finish)

  const send = (scheduledAt: number, now: number) => {
    const measured = scheduledAt >= measureStart
    if (measured) {
      scheduled++
      const lag = now - scheduledAt
      recordMs(sendLag, lag)
      if (lag > options.lateThresholdMs) late++
      if (now <= measureEnd) sentInWindow++
    }
    const body = options.bodies.length === 0 ? undefined : options.bodies[sequence++ % options.bodies.length]
    sender.send(scheduledAt, body, measured)
  }

  const reportProgress = () => {
    if (!onProgress) return
    const now = performance.now()
    const summary = summarize(interval)
    onProgress({
      elapsedMs: Math.max(0, now - start),
      errors,
      inFlight: sender.inFlight,
      offeredRps: options.rate,
      p50Ms: summary.p50Ms,
      p99Ms: summary.p99Ms,
      phase: now < measureStart ? 'warmup' : now <= measureEnd ? 'measure' : 'drain',
      throughputRps: (finishedInInterval * 1000) / (options.progressIntervalMs ?? 1000),
    })
    interval.reset()
    finishedInInterval = 0
  }

  const reaper = setInterval(() => sender.reapExpired(), Math.min(50, Math.max(5, options.timeoutMs / 10)))
  const progress = options.progressIntervalMs ? setInterval(reportProgress, options.progressIntervalMs) : undefined
  let timer: NodeJS.Timeout | undefined
  const settled = new Promise<void>((resolve) => {
    settleAll = resolve
  })

  await new Promise<void>((resolve) => {
    // Sends every request that is due, then sleeps until the next one. Node's timers have a 1 ms granularity, so at
    // high rates several requests go out per tick; their lateness is measured, reported, and counted in the latency.
    const tick = () => {
      const now = performance.now()
      while (nextAt <= now && nextAt < measureEnd) {
        send(nextAt, now)
        nextAt += nextGap()
      }
      if (nextAt >= measureEnd) {
        resolve()
        return
      }
      timer = setTimeout(tick, Math.max(0, nextAt - performance.now() - 0.5))
    }
    timer = setTimeout(tick, Math.max(0, start - performance.now()))
  })
  if (sender.inFlight === 0) settleAll?.()

  // Every request ends by its deadline; the extra second covers the reaper's period and a slow abort.
  let abandoned = 0
  const lastDeadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, measureEnd + options.timeoutMs + 1000 - performance.now()))
  })
  await Promise.race([settled, lastDeadline])
  clearTimeout(timer)
  clearInterval(reaper)
  if (progress) clearInterval(progress)
  reportProgress()
  if (sender.inFlight > 0) abandoned = sender.abandonAll()
  loopDelay.disable()
  await sender.destroy()

  return {
    abandoned,
    arrival: options.arrival,
    durationMs: options.durationMs,
    errorsByKind,
    errorsByStatus,
    eventLoopDelay: {maxMs: loopDelay.max / 1e6, p99Ms: loopDelay.percentile(99) / 1e6},
    finishedInWindow,
    late,
    lateThresholdMs: options.lateThresholdMs,
    latency: encodeHistogram(latency),
    offeredRps: options.rate,
    ok,
    okInWindow,
    okSpanMs: ok === 0 ? 0 : lastOkAt - measureStart,
    okLatency: encodeHistogram(okLatency),
    scheduled,
    sendLag: encodeHistogram(sendLag),
    sentInWindow,
    shedLatency: encodeHistogram(shedLatency),
    warmupMs: options.warmupMs,
  }
}

export type {Histogram, LatencySummary}
