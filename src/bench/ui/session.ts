import {errorMessage, ExitCode, MlshipError} from '../../errors.js'
import {type BenchOptions, type BenchResult, type DeviceRun, resolvePayloads, stepCost} from '../bench.js'
import {LiveLoadGenerator} from '../live-generator.js'
import type {LiveSegment, LiveWindow} from '../live-load.js'
import type {Payloads} from '../payload.js'
import {type StepResult, toStepResult} from '../step-result.js'
import {DEFAULT_SWEEP, type Knee, sweepForKnee} from '../sweep.js'
import {type BenchDevice, type BenchTarget, probeEndpoint} from '../target.js'
import {type Degradation, DegradationWatch} from './degradation.js'
import {GaugeScraper, metricsFetcher, metricsUrl, type ServerGauges} from './server-gauges.js'

/** What `bench --ui` needs: bench's own settings (the sweep's among them), the starting rate and the slider's top. */
export type BenchUiOptions = Pick<
  BenchOptions,
  | 'arrival'
  | 'batchSize'
  | 'connections'
  | 'devices'
  | 'dir'
  | 'durationMs'
  | 'lateThresholdMs'
  | 'method'
  | 'payloadFile'
  | 'slo'
  | 'starter'
  | 'sweep'
  | 'timeoutMs'
  | 'warmupMs'
> & {
  /** Offered rate at the start (req/s; 0: idle until the slider moves). */
  rate: number
  /** The slider's top (req/s). */
  maxRate: number
  /** How often the page gets a window (ms). */
  windowMs?: number
  /** How much history the page gets when it (re)connects. */
  historyMs?: number
  now?: () => number
}

export interface DeviceState {
  /** A server is running on it, warm, ready to take the load at once. */
  available: boolean
  /** Why not, in the words `bench --devices` uses. */
  reason: string | null
  executionProvider: string | null
  timeToReadyMs: number | null
}

export interface SessionState {
  rate: number
  device: BenchDevice
  /** A "find the knee" sweep is running: the rate and the device are its own until it ends. */
  sweeping: boolean
  degradation: Degradation | null
  /** The generator could not keep its schedule in the last window. */
  generatorLimited: boolean
  /** Why the gauges are missing for the current target (null: they are there). */
  gaugesUnavailable: string | null
  stopped: boolean
}

/** A sweep step as the page shows it. */
export interface SweepStepView {
  device: BenchDevice
  index: number
  rate: number
  verdict?: StepResult['verdict']
  p99Ms?: number
  achievedRps?: number
  limited?: boolean
  reasons?: string[]
}

export interface SessionConfig {
  slo: BenchOptions['slo']
  maxRate: number
  windowMs: number
  historyMs: number
  target: {kind: BenchTarget['kind']; method: string}
  payload: {source: string; bodies: number}
  devices: Record<BenchDevice, DeviceState>
  sweep: {startRate: number; maxRate: number; stepS: number}
}

export interface Tick {
  window: LiveWindow
  gauges?: ServerGauges
}

export interface Marker {
  at: number
  kind: 'degraded' | 'recovered' | 'device'
  label: string
  limit?: Degradation['limit']
  rate?: number
}

export type SessionEvent =
  | {type: 'window'; window: LiveWindow}
  | {type: 'gauges'; gauges: ServerGauges}
  | {type: 'state'; state: SessionState}
  | {type: 'marker'; marker: Marker}
  | {type: 'sweep-step'; step: SweepStepView}
  | {type: 'knee'; device: BenchDevice; knee: Knee | null; error?: string}
  | {type: 'failure'; message: string}

export interface Snapshot {
  type: 'snapshot'
  config: SessionConfig
  state: SessionState
  history: Tick[]
  markers: Marker[]
  sweep: SweepStepView[]
  knees: Partial<Record<BenchDevice, Knee>>
}

export interface SessionHooks {
  onNote?: (message: string) => void
  onTargetReady?: (target: BenchTarget) => void
}

interface Running {
  target: BenchTarget
  scraper: GaugeScraper
  steps: StepResult[]
  knee: Knee | null
}

const DEVICES: BenchDevice[] = ['cpu', 'gpu']

/**
 * The live session behind `bench --ui`: the servers under test (one per device, all kept warm), the live load, the
 * degradation watch, the scrapes of each server's /metrics, and "find the knee". The page drives it through these
 * methods and follows it through `subscribe`; nothing here knows about HTTP.
 */
export class BenchUiSession {
  private readonly listeners = new Set<(event: SessionEvent) => void>()
  private readonly history: Tick[] = []
  private readonly markers: Marker[] = []
  private sweepSteps: SweepStepView[] = []
  private readonly knees: Partial<Record<BenchDevice, Knee>> = {}
  private watch: DegradationWatch
  private readonly state: SessionState
  private readonly startedAt: number
  private stopping: Promise<BenchResult> | undefined
  private sweep: Promise<void> | undefined

  private constructor(
    private readonly options: BenchUiOptions,
    private readonly config: SessionConfig,
    private readonly running: Map<BenchDevice, Running>,
    private readonly payloads: Payloads,
    private readonly gpuRequested: boolean,
    private readonly generator: LiveLoadGenerator,
    device: BenchDevice,
    private readonly now: () => number,
  ) {
    this.watch = watchFor(options)
    this.startedAt = now()
    this.state = {
      degradation: null,
      device,
      gaugesUnavailable: null,
      generatorLimited: false,
      rate: options.rate,
      stopped: false,
      sweeping: false,
    }
  }

  /** Starts a server on each device asked for (and usable), checks each answers, then the live load on the first. */
  static async start(options: BenchUiOptions, hooks: SessionHooks = {}): Promise<BenchUiSession> {
    const payloads = await resolvePayloads(options, hooks.onNote)
    // Every target of one starter takes the same key (the live load moves between them with the same headers).
    let headers: Record<string, string> = {'content-type': 'application/json'}
    const devices = await deviceStates(options, hooks)
    const running = new Map<BenchDevice, Running>()
    try {
      for (const device of DEVICES) {
        const state = devices[device]
        if (!state.available) continue
        let target: BenchTarget
        try {
          target = await options.starter.start(device)
        } catch (error) {
          // A GPU that fails to start is reported, not fatal: the CPU still teaches something.
          if (device === 'gpu') {
            devices.gpu = {
              ...state,
              available: false,
              reason: `the server did not start on the GPU: ${errorMessage(error)}`,
            }
            hooks.onNote?.(`GPU: ${devices.gpu.reason}. The page offers the CPU alone.`)
            continue
          }
          throw error
        }
        headers = {'content-type': 'application/json', ...target.headers}
        running.set(device, {
          knee: null,
          scraper: new GaugeScraper(metricsUrl(target.url), metricsFetcher(target.headers)),
          steps: [],
          target,
        })
        hooks.onTargetReady?.(target)
        await probeEndpoint({body: payloads.bodies[0], headers, method: options.method, url: target.url})
        devices[device] = {
          available: true,
          executionProvider: target.executionProvider,
          reason: null,
          timeToReadyMs: target.timeToReadyMs,
        }
      }
    } catch (error) {
      await Promise.all([...running.values()].map((run) => run.target.close()))
      throw error
    }
    const device = DEVICES.find((d) => running.has(d))
    if (!device) {
      throw new MlshipError('No server to benchmark: no device could be started', {
        code: 'BENCH_NO_TARGET',
        exitCode: ExitCode.containerUnhealthy,
        suggestions: ['Run with --devices cpu.'],
      })
    }
    const windowMs = options.windowMs ?? 1000
    const config: SessionConfig = {
      devices,
      historyMs: options.historyMs ?? 10 * 60_000,
      maxRate: options.maxRate,
      payload: {bodies: payloads.bodies.length, source: payloads.source},
      slo: options.slo,
      sweep: {
        maxRate: options.sweep.maxRate ?? DEFAULT_SWEEP.maxRate,
        startRate: options.sweep.startRate ?? DEFAULT_SWEEP.startRate,
        stepS: (options.warmupMs + options.durationMs) / 1000,
      },
      target: {kind: options.starter.kind, method: options.method},
      windowMs,
    }
    const hooksOf: {session?: BenchUiSession} = {}
    const generator = LiveLoadGenerator.start(
      {
        arrival: options.arrival,
        bodies: payloads.bodies,
        connections: options.connections,
        headers,
        lateThresholdMs: options.lateThresholdMs,
        method: options.method,
        rate: options.rate,
        target: device,
        timeoutMs: options.timeoutMs,
        url: running.get(device)!.target.url,
        warmupMs: options.warmupMs,
        windowMs,
      },
      {
        onFailure: (error) => hooksOf.session?.failed(error),
        onSegment: (segment) => hooksOf.session?.segmentMeasured(segment),
        onWindow: (window) => hooksOf.session?.windowSeen(window),
      },
    )
    const session = new BenchUiSession(
      options,
      config,
      running,
      payloads,
      options.devices.includes('gpu'),
      generator,
      device,
      options.now ?? Date.now,
    )
    hooksOf.session = session
    return session
  }

  /** The URL of the endpoint under load now. */
  get url(): string {
    return this.running.get(this.state.device)!.target.url
  }

  /** Everything a page needs to draw itself from scratch (a reload, a second tab). */
  snapshot(): Snapshot {
    return {
      config: this.config,
      history: [...this.history],
      knees: {...this.knees},
      markers: [...this.markers],
      state: {...this.state},
      sweep: [...this.sweepSteps],
      type: 'snapshot',
    }
  }

  subscribe(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  setRate(rate: number): SessionState {
    this.assertControllable()
    if (!Number.isFinite(rate) || rate < 0 || rate > this.config.maxRate) {
      throw new MlshipError(`rate ${rate}: give a rate from 0 to ${this.config.maxRate} req/s`, {
        code: 'BENCH_UI_RATE',
        exitCode: ExitCode.usage,
      })
    }
    this.state.rate = Math.round(rate)
    this.generator.setRate(this.state.rate)
    this.emitState()
    return {...this.state}
  }

  setDevice(device: BenchDevice): SessionState {
    this.assertControllable()
    const run = this.running.get(device)
    if (!run) {
      throw new MlshipError(
        `${device}: no server runs there (${this.config.devices[device].reason ?? 'not started'})`,
        {
          code: 'BENCH_UI_DEVICE',
          exitCode: ExitCode.usage,
        },
      )
    }
    if (device === this.state.device) return {...this.state}
    this.state.device = device
    this.generator.setTarget(run.target.url, device)
    // The streak so far belongs to the other server.
    this.watch = watchFor(this.options)
    this.state.degradation = null
    this.state.gaugesUnavailable = run.scraper.unavailable
    this.addMarker({at: this.now(), kind: 'device', label: `switched to ${device.toUpperCase()}`})
    this.emitState()
    return {...this.state}
  }

  /**
   * Runs bench's sweep on the device in use, each step through the live load (so the charts show it), then goes back to
   * the rate the slider had. Returns at once; the steps and the knee arrive as events.
   */
  findKnee(): SessionState {
    this.assertControllable()
    const device = this.state.device
    const run = this.running.get(device)!
    const resumeRate = this.state.rate
    this.state.sweeping = true
    this.sweepSteps = []
    this.emitState()
    this.sweep = this.sweepOn(device, run).then(
      (knee) => {
        run.knee = knee
        this.knees[device] = knee
        this.emit({device, knee, type: 'knee'})
        this.endSweep(resumeRate)
      },
      (error: unknown) => {
        if (!this.state.stopped) this.emit({device, error: errorMessage(error), knee: null, type: 'knee'})
        this.endSweep(resumeRate)
      },
    )
    return {...this.state}
  }

  private async sweepOn(device: BenchDevice, run: Running): Promise<Knee> {
    // The backlog of the rate before would spill into the first step: the load stops until it has drained.
    this.generator.setRate(0)
    await this.drained()
    const result = await sweepForKnee(
      async (rate) => {
        const segment = await this.generator.step(rate, this.options.durationMs, 0)
        return toStepResult(segment.raw, this.options.slo)
      },
      {...DEFAULT_SWEEP, ...this.options.sweep, slo: this.options.slo, stepCostMs: stepCost(this.options)},
      {
        onStepEnd: (step, index) => {
          run.steps.push(step)
          this.sweepStep({
            achievedRps: step.achievedRps,
            device,
            index,
            limited: step.generator.limited,
            p99Ms: step.latencyMs.p99Ms,
            rate: step.offeredRps,
            reasons: step.reasons,
            verdict: step.verdict,
          })
        },
        onStepStart: (rate, index) => this.sweepStep({device, index, rate}),
      },
    )
    return result.knee
  }

  private sweepStep(view: SweepStepView): void {
    this.sweepSteps[view.index] = view
    this.emit({step: view, type: 'sweep-step'})
  }

  /** Resolves once a window shows nothing in flight, or when every request still out has passed its deadline. */
  private async drained(): Promise<void> {
    const last = this.history.at(-1)?.window
    if (!last || last.inFlight === 0) return
    await new Promise<void>((resolve) => {
      let windows = Math.ceil((this.options.timeoutMs + 1000) / this.config.windowMs)
      const unsubscribe = this.subscribe((event) => {
        if (event.type !== 'window' && !this.state.stopped) return
        windows--
        if (this.state.stopped || (event.type === 'window' && event.window.inFlight === 0) || windows <= 0) {
          unsubscribe()
          resolve()
        }
      })
    })
  }

  /** The session as bench's result: one run per device, its live segments and sweep steps, the knee where found. */
  result(): BenchResult {
    const runs: DeviceRun[] = [...this.running.entries()].map(([device, run]) => ({
      device: this.options.starter.kind === 'url' ? null : device,
      durationS: Math.round((this.now() - this.startedAt) / 100) / 10,
      executionProvider: run.target.executionProvider,
      imageSizeBytes: run.target.imageSizeBytes,
      knee: run.knee,
      steps: [...run.steps].sort((a, b) => a.offeredRps - b.offeredRps),
      timeToReadyMs: run.target.timeToReadyMs,
    }))
    const gpu = this.config.devices.gpu
    return {
      gpu: {reason: gpu.available ? null : gpu.reason, requested: this.gpuRequested, usable: gpu.available},
      mode: runs.some((run) => run.knee) ? 'sweep' : 'fixed-rate',
      payload: {batchSize: this.payloads.batchSize, bodies: this.payloads.bodies.length, source: this.payloads.source},
      runs,
      schemaVersion: 1,
      settings: {
        arrival: this.options.arrival,
        connections: this.options.connections,
        durationS: this.options.durationMs / 1000,
        lateThresholdMs: this.options.lateThresholdMs,
        maxDurationS: (this.options.sweep.maxDurationMs ?? DEFAULT_SWEEP.maxDurationMs) / 1000,
        timeoutMs: this.options.timeoutMs,
        warmupS: this.options.warmupMs / 1000,
      },
      slo: this.options.slo,
      target: {kind: this.options.starter.kind, method: this.options.method, url: this.url},
    }
  }

  /** Stops the load, a sweep in progress, and every server the session started. Resolves with the session's result. */
  async stop(): Promise<BenchResult> {
    this.stopping ??= (async () => {
      this.state.stopped = true
      this.emitState()
      await this.generator.stop()
      await this.sweep
      const result = this.result()
      await Promise.all([...this.running.values()].map((run) => run.target.close()))
      this.listeners.clear()
      return result
    })()
    return this.stopping
  }

  private windowSeen(window: LiveWindow): void {
    const tick: Tick = {window}
    this.history.push(tick)
    const horizon = window.at - this.config.historyMs
    while (this.history.length > 0 && this.history[0]!.window.at < horizon) this.history.shift()
    this.emit({type: 'window', window})

    const change = this.watch.observe(window)
    let changed = this.state.generatorLimited !== window.generator.limited
    this.state.generatorLimited = window.generator.limited
    if (change.tipped) {
      this.state.degradation = change.tipped
      const {at, headline, limit, rate} = change.tipped
      this.addMarker({at, kind: 'degraded', label: headline, limit, rate})
      changed = true
    }
    if (change.recovered !== undefined) {
      this.state.degradation = null
      this.addMarker({at: change.recovered, kind: 'recovered', label: 'healthy again'})
      changed = true
    }
    if (changed) this.emitState()
    void this.scrapeGauges(tick)
  }

  private async scrapeGauges(tick: Tick): Promise<void> {
    const device = this.state.device
    const run = this.running.get(device)!
    const gauges = await run.scraper.scrape()
    if (this.state.stopped || device !== this.state.device) return
    if (gauges) {
      tick.gauges = gauges
      this.emit({gauges, type: 'gauges'})
    } else if (run.scraper.unavailable !== this.state.gaugesUnavailable) {
      this.state.gaugesUnavailable = run.scraper.unavailable
      this.emitState()
    }
  }

  private segmentMeasured(segment: LiveSegment): void {
    const device = (segment.target ?? this.state.device) as BenchDevice
    // A segment under a second says little about a rate; the session report keeps the ones that measured something.
    if (segment.raw.durationMs < 1000 || segment.raw.offeredRps <= 0) return
    this.running.get(device)?.steps.push(toStepResult(segment.raw, this.options.slo))
  }

  private failed(error: Error): void {
    if (this.state.stopped) return
    this.emit({message: `The load generator stopped: ${error.message}`, type: 'failure'})
  }

  private endSweep(resumeRate: number): void {
    this.state.sweeping = false
    this.sweep = undefined
    if (this.state.stopped) return
    this.state.rate = resumeRate
    this.generator.setRate(resumeRate)
    this.emitState()
  }

  private assertControllable(): void {
    if (this.state.stopped) {
      throw new MlshipError('The session has stopped', {code: 'BENCH_UI_STOPPED', exitCode: ExitCode.usage})
    }
    if (this.state.sweeping) {
      throw new MlshipError('A "find the knee" sweep is running: the rate and device are its own until it ends', {
        code: 'BENCH_UI_SWEEPING',
        exitCode: ExitCode.usage,
      })
    }
  }

  private addMarker(marker: Marker): void {
    this.markers.push(marker)
    this.emit({marker, type: 'marker'})
  }

  private emitState(): void {
    this.emit({state: {...this.state}, type: 'state'})
  }

  private emit(event: SessionEvent): void {
    for (const listener of this.listeners) listener(event)
  }
}

/** Which devices get a server: those asked for and usable; a GPU that is not usable says why, as bench does. */
export async function deviceStates(
  options: Pick<BenchUiOptions, 'devices' | 'starter'>,
  hooks: SessionHooks,
): Promise<Record<BenchDevice, DeviceState>> {
  const off = (reason: string): DeviceState => ({
    available: false,
    executionProvider: null,
    reason,
    timeToReadyMs: null,
  })
  const on: DeviceState = {available: true, executionProvider: null, reason: null, timeToReadyMs: null}
  const devices = [...options.devices]
  if (options.starter.kind === 'url') {
    return {
      cpu: on,
      gpu: off('with --url the server runs wherever it runs: mlship starts no GPU server to switch to'),
    }
  }
  const gpuReason = await options.starter.gpuUnavailableReason()
  let gpu: DeviceState
  if (gpuReason) {
    gpu = off(`not usable here: ${gpuReason}`)
    if (devices.includes('gpu')) hooks.onNote?.(`GPU: ${gpu.reason ?? ''}. The page offers the CPU alone.`)
  } else if (devices.includes('gpu')) gpu = on
  else gpu = off('not started: run with --devices cpu,gpu to keep a GPU server warm beside the CPU one')
  const cpu = devices.includes('cpu') || !gpu.available ? on : off('not started: run with --devices cpu,gpu')
  return {cpu, gpu}
}

/** The degradation watch of a session: bench's SLO, and its warm-up left unjudged after each change. */
function watchFor(options: Pick<BenchUiOptions, 'slo' | 'warmupMs' | 'windowMs'>): DegradationWatch {
  return new DegradationWatch({
    slo: options.slo,
    warmupWindows: Math.ceil(options.warmupMs / (options.windowMs ?? 1000)),
  })
}
