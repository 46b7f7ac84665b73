import {type IntervalHistogram, monitorEventLoopDelay, performance} from 'node:perf_hooks'

import {createHistogram, encodeHistogram, type Histogram, recordMs, summarize} from './histogram.js'
import type {ErrorKind, RawStepResult} from './load-step.js'
import {type Arrival, arrivalGaps} from './schedule.js'
import {classifyError, type RequestOutcome, RequestSender} from './sender.js'
import {GENERATOR_LATE_LIMIT} from './step-result.js'

/**
 * Open-loop load that runs until stopped, at a rate that can change at any moment (the slider of `bench --ui`), to a
 * target that can change too (the CPU/GPU switch). Every `windowMs` it reports what the last window saw; after each
 * change and a warm-up it measures a segment, reported when its last request has ended in the shape of a fixed-rate
 * step (RawStepResult), so a segment is judged exactly as `bench --rate` judges a step.
 */
export interface LiveLoadOptions {
  url: string
  /** Names the target in windows and segments (the device, or null for --url). */
  target: string | null
  method: string
  headers: Record<string, string>
  bodies: ReadonlyArray<string | undefined>
  arrival: Arrival
  /** Offered rate at the start, requests per second (0: idle). */
  rate: number
  connections: number
  timeoutMs: number
  lateThresholdMs: number
  /** After each change of rate or target, load that is sent but not measured in a segment. */
  warmupMs: number
  /** How often a window is reported. */
  windowMs: number
  seed?: number
}

/** One reporting window: requests that ended in it (latency, outcome) and requests scheduled in it. */
export interface LiveWindow {
  /** Wall-clock time at the end of the window (ms since the epoch). */
  at: number
  durationMs: number
  /** The rate the generator was set to at the end of the window. */
  rate: number
  target: string | null
  /** Requests sent in the window (counted at their send, however late), per second: the offered load. */
  offeredRps: number
  /** Responses of any outcome that ended in the window, per second. */
  throughputRps: number
  /** 2xx responses that ended in the window, per second. */
  achievedRps: number
  scheduled: number
  ok: number
  /** Requests that ended in the window without a 2xx (statuses, timeouts, connection errors). */
  errors: number
  /** Of those, refusals with 503 (load shedding). */
  shed: number
  timeouts: number
  /** errors / requests ended in the window (0 when none ended). */
  errorRate: number
  shedRate: number
  /** Latency of the requests that ended in the window, from their scheduled send time, all outcomes. */
  latencyMs: {count: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number}
  inFlight: number
  generator: {
    /** Requests sent in the window more than lateThresholdMs after their scheduled time. */
    late: number
    lateFraction: number
    lateThresholdMs: number
    sendLagP99Ms: number
    eventLoopDelayP99Ms: number
    /** More late sends than bench tolerates in a step: the window measures the generator, not the server. */
    limited: boolean
  }
}

/** A measured segment, in the shape of a fixed-rate step. */
export interface LiveSegment {
  /** The id given with the rate change that started it (steps of a sweep), or null (a change made live). */
  stepId: number | null
  target: string | null
  raw: RawStepResult
}

export interface LiveLoadHooks {
  onWindow(window: LiveWindow): void
  onSegment(segment: LiveSegment): void
}

/** A rate change that measures exactly one segment, then sets another rate (how a sweep runs one step). */
export interface LiveStep {
  id: number
  durationMs: number
  thenRate: number
}

class Segment {
  readonly latency = createHistogram()
  readonly okLatency = createHistogram()
  readonly shedLatency = createHistogram()
  readonly sendLag = createHistogram()
  readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({resolution: 10})
  readonly errorsByStatus: Record<string, number> = {}
  readonly errorsByKind: Record<ErrorKind, number> = {connection: 0, other: 0, status: 0, timeout: 0}
  scheduled = 0
  sentInWindow = 0
  okInWindow = 0
  finishedInWindow = 0
  ok = 0
  lastOkAt = 0
  late = 0
  inFlight = 0
  abandoned = 0
  end: number | null = null

  constructor(
    readonly start: number,
    readonly rate: number,
    readonly target: string | null,
    readonly stepId: number | null,
  ) {
    this.loopDelay.enable()
  }
}

class Window {
  readonly latency: Histogram = createHistogram()
  readonly sendLag: Histogram = createHistogram()
  scheduled = 0
  late = 0
  finished = 0
  ok = 0
  shed = 0
  timeouts = 0

  constructor(readonly start: number) {}
}

type Phase =
  | {kind: 'idle'}
  | {kind: 'warmup'; until: number; step: LiveStep | null}
  | {kind: 'measure'; segment: Segment; until: number | null; step: LiveStep | null}

interface Tag {
  segment: Segment | null
}

export class LiveLoad {
  private rate: number
  private url: string
  private target: string | null
  private sender: RequestSender<Tag>
  /** Senders of earlier targets, kept until their last request has ended. */
  private retired: Array<RequestSender<Tag>> = []
  private nextGap: () => number
  private nextAt: number
  private phase: Phase = {kind: 'idle'}
  private window: Window
  private readonly windowLoopDelay = monitorEventLoopDelay({resolution: 10})
  private sequence = 0
  private seed: number
  private timer: NodeJS.Timeout | undefined
  private readonly reaper: NodeJS.Timeout
  private readonly reporter: NodeJS.Timeout
  private stopped = false

  constructor(
    private readonly options: LiveLoadOptions,
    private readonly hooks: LiveLoadHooks,
  ) {
    const now = performance.now()
    this.rate = options.rate
    this.url = options.url
    this.target = options.target
    this.seed = options.seed ?? 1
    this.nextGap = this.gaps(options.rate)
    this.nextAt = now + this.nextGap()
    this.sender = this.newSender(options.url)
    this.window = new Window(now)
    this.windowLoopDelay.enable()
    this.changed(now, null)
    this.reaper = setInterval(() => this.reap(), Math.min(50, Math.max(5, options.timeoutMs / 10)))
    this.reporter = setInterval(() => this.report(), options.windowMs)
    this.schedule()
  }

  /** Sets the offered rate from now on (0: idle). With `step`, measures one segment and then sets `step.thenRate`. */
  setRate(rate: number, step: LiveStep | null = null): void {
    if (this.stopped) return
    const now = this.catchUp()
    this.applyRate(now, rate)
    this.changed(now, step)
    this.schedule()
  }

  /** Sends to another endpoint from now on; requests already sent end where they went. */
  setTarget(url: string, target: string | null): void {
    if (this.stopped) return
    const now = this.catchUp()
    this.url = url
    this.retireSender()
    this.target = target
    this.changed(now, null)
    this.schedule()
  }

  /** Stops sending, ends what is in flight (as timeouts), reports the open segment and closes every connection. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearTimeout(this.timer)
    clearInterval(this.reaper)
    clearInterval(this.reporter)
    this.closeSegment(performance.now())
    for (const sender of [this.sender, ...this.retired]) sender.abandonAll()
    this.windowLoopDelay.disable()
    await Promise.all([this.sender, ...this.retired].map((sender) => sender.destroy()))
  }

  private gaps(rate: number): () => number {
    if (rate <= 0) return () => Number.POSITIVE_INFINITY
    return arrivalGaps(this.options.arrival, rate, this.seed++)
  }

  private retireSender(): void {
    this.retired.push(this.sender)
    this.sender = this.newSender(this.url)
  }

  private newSender(url: string): RequestSender<Tag> {
    return new RequestSender<Tag>({...this.options, url}, (scheduledAt, tag, outcome) =>
      this.ended(scheduledAt, tag, outcome),
    )
  }

  private applyRate(at: number, rate: number): void {
    // A backlog queued in the client for a free connection belongs to the rate before: the new rate gets a pool of
    // its own instead of waiting behind it (the old one ends its requests, then is destroyed).
    if (this.sender.queued > 0) this.retireSender()
    this.rate = rate
    this.nextGap = this.gaps(rate)
    this.nextAt = at + this.nextGap()
  }

  /** A change at `at`: the measured segment (if any) ends, and a warm-up starts before the next one. */
  private changed(at: number, step: LiveStep | null): void {
    this.closeSegment(at)
    this.phase = this.rate > 0 || step ? {kind: 'warmup', step, until: at + this.options.warmupMs} : {kind: 'idle'}
  }

  private closeSegment(at: number): void {
    if (this.phase.kind !== 'measure') return
    const {segment} = this.phase
    segment.end = at
    segment.loopDelay.disable()
    this.phase = {kind: 'idle'}
    if (segment.inFlight === 0) this.emitSegment(segment)
  }

  /** The time of the next phase change (end of a warm-up or of a step's segment). */
  private boundary(): number {
    if (this.phase.kind === 'warmup') return this.phase.until
    if (this.phase.kind === 'measure' && this.phase.until !== null) return this.phase.until
    return Number.POSITIVE_INFINITY
  }

  private crossBoundary(at: number): void {
    const phase = this.phase
    if (phase.kind === 'warmup') {
      const segment = new Segment(at, this.rate, this.target, phase.step?.id ?? null)
      this.phase = {kind: 'measure', segment, step: phase.step, until: phase.step ? at + phase.step.durationMs : null}
    } else if (phase.kind === 'measure' && phase.step) {
      this.closeSegment(at)
      this.applyRate(at, phase.step.thenRate)
      this.changed(at, null)
    }
  }

  /**
   * Sends every request that is due and crosses every phase boundary that has passed, in time order, so a request
   * belongs to the segment its scheduled time falls in even when the generator runs late. Returns now.
   */
  private catchUp(): number {
    const now = performance.now()
    for (;;) {
      const boundary = this.boundary()
      const due = this.nextAt
      if (Math.min(boundary, due) > now) break
      if (boundary <= due) this.crossBoundary(boundary)
      else {
        this.send(due, now)
        this.nextAt += this.nextGap()
      }
    }
    return now
  }

  /** Sleeps until the next request or phase boundary (timers have a 1 ms granularity; late sends are measured). */
  private schedule(): void {
    clearTimeout(this.timer)
    if (this.stopped) return
    const next = Math.min(this.nextAt, this.boundary())
    if (!Number.isFinite(next)) return
    this.timer = setTimeout(
      () => {
        this.catchUp()
        this.schedule()
      },
      Math.max(0, next - performance.now() - 0.5),
    )
  }

  private send(scheduledAt: number, now: number): void {
    const lag = now - scheduledAt
    const late = lag > this.options.lateThresholdMs
    this.window.scheduled++
    recordMs(this.window.sendLag, lag)
    if (late) this.window.late++
    const segment = this.phase.kind === 'measure' ? this.phase.segment : null
    if (segment) {
      segment.scheduled++
      segment.sentInWindow++
      segment.inFlight++
      recordMs(segment.sendLag, lag)
      if (late) segment.late++
    }
    const bodies = this.options.bodies
    const body = bodies.length === 0 ? undefined : bodies[this.sequence++ % bodies.length]
    this.sender.send(scheduledAt, body, {segment})
  }

  private ended(scheduledAt: number, tag: Tag, outcome: RequestOutcome): void {
    const now = performance.now()
    const ms = now - scheduledAt
    const success = outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300
    const window = this.window
    window.finished++
    recordMs(window.latency, ms)
    if (success) window.ok++
    else if (outcome.status === 503) window.shed++
    else if (outcome.timedOut) window.timeouts++

    // Responses that end while a segment is measured count towards its throughput, whichever request they answer.
    if (this.phase.kind === 'measure') {
      this.phase.segment.finishedInWindow++
      if (success) this.phase.segment.okInWindow++
    }
    const segment = tag.segment
    if (!segment) return
    segment.inFlight--
    recordMs(segment.latency, ms)
    if (success) {
      segment.ok++
      segment.lastOkAt = Math.max(segment.lastOkAt, now)
      recordMs(segment.okLatency, ms)
    } else {
      if (outcome.status === 503) recordMs(segment.shedLatency, ms)
      if (outcome.status === undefined) segment.errorsByKind[classifyError(outcome)]++
      else {
        segment.errorsByKind.status++
        segment.errorsByStatus[String(outcome.status)] = (segment.errorsByStatus[String(outcome.status)] ?? 0) + 1
      }
      if (this.stopped && outcome.timedOut) segment.abandoned++
    }
    if (segment.end !== null && segment.inFlight === 0) this.emitSegment(segment)
  }

  private emitSegment(segment: Segment): void {
    const end = segment.end ?? performance.now()
    this.hooks.onSegment({
      raw: {
        abandoned: segment.abandoned,
        arrival: this.options.arrival,
        durationMs: end - segment.start,
        errorsByKind: segment.errorsByKind,
        errorsByStatus: segment.errorsByStatus,
        eventLoopDelay: {maxMs: segment.loopDelay.max / 1e6, p99Ms: segment.loopDelay.percentile(99) / 1e6},
        finishedInWindow: segment.finishedInWindow,
        late: segment.late,
        lateThresholdMs: this.options.lateThresholdMs,
        latency: encodeHistogram(segment.latency),
        offeredRps: segment.rate,
        ok: segment.ok,
        okInWindow: segment.okInWindow,
        okLatency: encodeHistogram(segment.okLatency),
        okSpanMs: segment.ok === 0 ? 0 : segment.lastOkAt - segment.start,
        scheduled: segment.scheduled,
        sendLag: encodeHistogram(segment.sendLag),
        sentInWindow: segment.sentInWindow,
        shedLatency: encodeHistogram(segment.shedLatency),
        warmupMs: this.options.warmupMs,
      },
      stepId: segment.stepId,
      target: segment.target,
    })
  }

  private reap(): void {
    const now = performance.now()
    this.sender.reapExpired(now)
    for (const sender of this.retired) sender.reapExpired(now)
    const done = this.retired.filter((sender) => sender.inFlight === 0)
    if (done.length === 0) return
    this.retired = this.retired.filter((sender) => sender.inFlight > 0)
    for (const sender of done) void sender.destroy()
  }

  private report(): void {
    const now = performance.now()
    const window = this.window
    this.window = new Window(now)
    const seconds = Math.max(1e-3, (now - window.start) / 1000)
    const latency = summarize(window.latency)
    const errors = window.finished - window.ok
    const lateFraction = window.scheduled === 0 ? 0 : window.late / window.scheduled
    const inFlight = this.sender.inFlight + this.retired.reduce((sum, sender) => sum + sender.inFlight, 0)
    const round1 = (x: number) => Math.round(x * 10) / 10
    this.hooks.onWindow({
      achievedRps: round1(window.ok / seconds),
      at: Date.now(),
      durationMs: Math.round(now - window.start),
      errorRate: window.finished === 0 ? 0 : errors / window.finished,
      errors,
      generator: {
        eventLoopDelayP99Ms: round1((this.windowLoopDelay.percentile(99) || 0) / 1e6),
        late: window.late,
        lateFraction,
        lateThresholdMs: this.options.lateThresholdMs,
        limited: lateFraction > GENERATOR_LATE_LIMIT,
        sendLagP99Ms: summarize(window.sendLag).p99Ms,
      },
      inFlight,
      latencyMs: {
        count: latency.count,
        maxMs: latency.maxMs,
        p50Ms: latency.p50Ms,
        p95Ms: latency.p95Ms,
        p99Ms: latency.p99Ms,
      },
      ok: window.ok,
      offeredRps: round1(window.scheduled / seconds),
      rate: this.rate,
      scheduled: window.scheduled,
      shed: window.shed,
      shedRate: window.finished === 0 ? 0 : window.shed / window.finished,
      target: this.target,
      throughputRps: round1(window.finished / seconds),
      timeouts: window.timeouts,
    })
    this.windowLoopDelay.reset()
  }
}
