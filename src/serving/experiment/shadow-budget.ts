import {readFileSync} from 'node:fs'
import os from 'node:os'
import {monitorEventLoopDelay} from 'node:perf_hooks'

/** What the budget reads of the machine, once per window. Every figure is cumulative, in milliseconds. */
export interface CapacitySources {
  /** Monotonic milliseconds. */
  now: () => number
  /** CPU time this process (all its threads) has used. */
  processCpuMs: () => number
  /** Idle time of the machine, summed over its CPUs (undefined where it cannot be read). */
  idleCpuMs: () => number | undefined
  /** How late the event loop ran its timers since the last call (a high percentile, ms), and start over. */
  eventLoopDelayMs: () => number
}

export interface ShadowBudgetOptions {
  /** The CPUs this process may use (usableCpus()). */
  cores: number
  sources: CapacitySources
  /** How often the machine is read (default 250 ms). */
  windowMs?: number
  /** The part of the spare CPU time the shadow may take (default 0.25: it never takes all that is left; with
   * several shadows, shadowBudgets splits it between them). */
  share?: number
  /** Above this event-loop delay the shadow gets no copy (default 10 ms): the answers are already waiting. */
  maxEventLoopDelayMs?: number
  /** At least one copy this often (default 1000 ms), whatever the load, while the answering variant is idle. */
  trickleMs?: number
}

/**
 * The shadow's share of the machine (issue 12: a shadow adds at most 10% to the primary's p99). Shadow copies spend
 * CPU milliseconds from a bucket that fills with a quarter of the CPU time nobody used in the last window: the smaller
 * of the cores this process leaves idle (its own CPU time, shadow included, against its cores or cgroup quota) and the
 * machine's idle time (other processes count: a load generator, a neighbour). A copy costs the time it took. So at
 * the answering variant's knee, where nothing is idle, the bucket stays empty; below it the shadow takes a fifth of
 * what the answers leave (a quarter of what it leaves in turn). And while the event loop runs late (the HTTP thread is
 * behind: contention the CPU counters missed, a GC pause), no copy is made. One copy per trickle interval is made
 * regardless, so a shadow on a busy server still measures something, at a cost of one inference a second.
 */
export class ShadowBudget {
  private readonly windowMs: number
  private readonly share: number
  private readonly maxDelayMs: number
  private readonly trickleMs: number
  private tokensMs: number
  private readonly capMs: number
  private windowStart: number
  private lastCpuMs: number
  private lastIdleMs: number | undefined
  private lagging = false
  private lastCopyAt: number

  constructor(private readonly options: ShadowBudgetOptions) {
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS
    this.share = options.share ?? SHADOW_SHARE
    this.maxDelayMs = options.maxEventLoopDelayMs ?? 10
    this.trickleMs = options.trickleMs ?? 1000
    this.capMs = this.windowMs * this.share * options.cores
    // It starts with one window's worth: the first copies need not wait for the first reading.
    this.tokensMs = this.capMs
    const {sources} = options
    this.windowStart = sources.now()
    this.lastCopyAt = this.windowStart
    this.lastCpuMs = sources.processCpuMs()
    this.lastIdleMs = sources.idleCpuMs()
  }

  /** Whether a copy may be made now (it is then counted as made: call when the copy is sent, not before). */
  take(): boolean {
    const now = this.options.sources.now()
    this.refresh(now)
    const admitted = (!this.lagging && this.tokensMs > 0) || now - this.lastCopyAt >= this.trickleMs
    if (admitted) this.lastCopyAt = now
    return admitted
  }

  /** Whether take() would admit a copy now, without counting one. */
  available(): boolean {
    const now = this.options.sources.now()
    this.refresh(now)
    return (!this.lagging && this.tokensMs > 0) || now - this.lastCopyAt >= this.trickleMs
  }

  /** A copy finished after `ms` milliseconds (its inference and the messages to and from its worker). */
  spend(ms: number): void {
    this.tokensMs -= ms
  }

  /** The CPU milliseconds left to spend (negative after a copy cost more than there was). */
  get tokens(): number {
    return this.tokensMs
  }

  private refresh(now: number): void {
    const elapsed = now - this.windowStart
    if (elapsed < this.windowMs) return
    const {cores, sources} = this.options
    const cpuMs = sources.processCpuMs()
    const idleMs = sources.idleCpuMs()
    let spareMs = cores * elapsed - (cpuMs - this.lastCpuMs)
    if (idleMs !== undefined && this.lastIdleMs !== undefined) spareMs = Math.min(spareMs, idleMs - this.lastIdleMs)
    this.tokensMs = Math.min(this.capMs, this.tokensMs + this.share * Math.max(0, spareMs))
    this.lagging = sources.eventLoopDelayMs() > this.maxDelayMs
    this.windowStart = now
    this.lastCpuMs = cpuMs
    this.lastIdleMs = idleMs
  }
}

/** The timer resolution of the event-loop delay histogram: its readings include it. */
const DELAY_RESOLUTION_MS = 10

/** The default window of a ShadowBudget, and how long machineCapacitySources keeps one delay reading. */
const DEFAULT_WINDOW_MS = 250

/** The part of node:perf_hooks' IntervalHistogram the sources read (nanoseconds). */
export interface DelayHistogram {
  readonly count: number
  percentile: (percentile: number) => number
  reset: () => void
  disable: () => void
}

export interface MachineCapacityOptions {
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number
  /** How long one delay reading serves every budget that asks (default 250 ms, a budget's window). */
  windowMs?: number
  /** The event loop's delay histogram (default monitorEventLoopDelay, enabled here). */
  delay?: DelayHistogram
}

/**
 * This machine's counters (Linux's /proc/stat, else os.cpus()) and a histogram of the event loop's delay. The
 * histogram is read and reset at most once a window; every budget asking within it gets that same reading (several
 * shadows share these sources: the second would otherwise find the histogram just reset, count 0, and shed all).
 */
export function machineCapacitySources(options: MachineCapacityOptions = {}): CapacitySources & {close: () => void} {
  const now = options.now ?? (() => performance.now())
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS
  const delay = options.delay ?? enabledDelayHistogram()
  let lastReading: {at: number; ms: number} | undefined
  return {
    close: () => delay.disable(),
    eventLoopDelayMs: () => {
      const at = now()
      if (lastReading && at - lastReading.at < windowMs) return lastReading.ms
      // A window without a reading (the loop never got to the timer) is as late as the window is long.
      const ms = delay.count === 0 ? Number.POSITIVE_INFINITY : delay.percentile(90) / 1e6 - DELAY_RESOLUTION_MS
      delay.reset()
      lastReading = {at, ms}
      return ms
    },
    idleCpuMs: machineIdleMs,
    now,
    processCpuMs: () => {
      const {system, user} = process.cpuUsage()
      return (user + system) / 1000
    },
  }
}

function enabledDelayHistogram(): DelayHistogram {
  const delay = monitorEventLoopDelay({resolution: DELAY_RESOLUTION_MS})
  delay.enable()
  return delay
}

/** The part of the spare CPU time all shadows together may take (each of N shadows gets a Nth of it). */
export const SHADOW_SHARE = 0.25

/**
 * One budget per shadow, all on the same sources, splitting SHADOW_SHARE between them: each counts the same spare
 * CPU time, so N budgets of a quarter each would let the shadows take N quarters of it.
 */
export function shadowBudgets(
  count: number,
  options: Omit<ShadowBudgetOptions, 'share'> & {share?: number},
): ShadowBudget[] {
  const share = (options.share ?? SHADOW_SHARE) / Math.max(1, count)
  return Array.from({length: count}, () => new ShadowBudget({...options, share}))
}

/** Linux's USER_HZ: /proc/stat counts in hundredths of a second. */
const PROC_STAT_TICK_MS = 10

/** Idle milliseconds of all the machine's CPUs since boot (idle and iowait), or undefined. */
export function machineIdleMs(
  readProcStat: () => string = () => readFileSync('/proc/stat', 'utf8'),
): number | undefined {
  try {
    const line = readProcStat().split('\n', 1)[0]!
    const fields = line.trim().split(/\s+/)
    if (fields[0] !== 'cpu' || fields.length < 6) return undefined
    return (Number(fields[4]) + Number(fields[5])) * PROC_STAT_TICK_MS
  } catch {
    const cpus = os.cpus()
    return cpus.length === 0 ? undefined : cpus.reduce((sum, cpu) => sum + cpu.times.idle, 0)
  }
}
