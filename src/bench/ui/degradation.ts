import type {LiveWindow} from '../live-load.js'
import type {Slo} from '../step-result.js'

/** The moment the live load tipped into degradation, and who is to blame for it. */
export interface Degradation {
  /** Wall-clock time (ms since the epoch) of the start of the first unhealthy window. */
  at: number
  /** The rate the generator was set to then. */
  rate: number
  /** Why the windows are unhealthy, worst first. */
  reasons: string[]
  /** The server, or the generator that could not keep its schedule (then the server is not blamed). */
  limit: 'server' | 'generator'
  /** One sentence, for the page: "p99 over 100 ms at 1,850 req/s: the server, not the generator, is the limit" */
  headline: string
}

export interface DegradationChange {
  tipped?: Degradation
  /** Wall-clock time at which the load was healthy again. */
  recovered?: number
}

export interface DegradationWatchOptions {
  slo: Slo
  /** Consecutive unhealthy windows before the load counts as tipped (one bad second is noise, three are a trend). */
  tipAfter?: number
  /** Consecutive healthy (or idle) windows before it counts as recovered. */
  recoverAfter?: number
  /**
   * Windows after a change of rate (and at the start) that are not judged: the warm-up `bench` leaves out of a step
   * (connections opening, a thread just started, the backlog of the rate before).
   */
  warmupWindows?: number
}

/** Fewer missing answers than this in a window are counting noise, not a server falling behind. */
const ACHIEVED_SLACK = 3

const rps = (x: number) => Math.round(x).toLocaleString('en-US')
const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`

interface Finding {
  kind: 'p99' | 'errors' | 'achieved'
  reason: string
}

/** What is wrong with one window, judged by the SLO a bench step is judged by (empty: healthy or idle). */
export function judgeWindow(window: LiveWindow, slo: Slo): Finding[] {
  const findings: Finding[] = []
  if (window.latencyMs.count > 0 && window.latencyMs.p99Ms >= slo.p99Ms)
    findings.push({
      kind: 'p99',
      reason: `p99 ${window.latencyMs.p99Ms.toFixed(1)} ms is over the SLO of ${slo.p99Ms} ms`,
    })
  if (window.errors > 0 && window.errorRate >= slo.maxErrorRate) {
    const refusals = window.shed > 0 ? `, ${pct(window.shedRate)} refused with 503` : ''
    findings.push({kind: 'errors', reason: `errors ${pct(window.errorRate)}${refusals}`})
  }
  if (window.scheduled > 0 && window.ok < slo.minAchievedRatio * window.scheduled) {
    if (window.scheduled - window.ok > ACHIEVED_SLACK)
      findings.push({
        kind: 'achieved',
        reason: `achieved ${rps(window.achievedRps)}/s is under ${Math.round(slo.minAchievedRatio * 100)}% of the offered ${rps(window.rate)}/s`,
      })
  }
  return findings
}

/**
 * Watches the live windows for the moment the system tips into degradation (and back), as the lesson asks the student
 * to notice it. A window counts as unhealthy by the SLO a bench step is judged by; a few in a row are a tip. When the
 * generator could not keep its schedule in those windows, the headline says so instead of blaming the server.
 */
export class DegradationWatch {
  private readonly tipAfter: number
  private readonly recoverAfter: number
  private streak: Array<{window: LiveWindow; findings: Finding[]}> = []
  private healthyStreak = 0
  private state: Degradation | null = null
  private rate: number | null = null
  private sinceChange = 0

  constructor(private readonly options: DegradationWatchOptions) {
    this.tipAfter = options.tipAfter ?? 3
    this.recoverAfter = options.recoverAfter ?? 3
  }

  /** The degradation in force now (null: healthy). */
  get current(): Degradation | null {
    return this.state
  }

  observe(window: LiveWindow): DegradationChange {
    // A new rate is a new question: its windows make a streak of their own, and may tip again at that rate.
    if (window.rate !== this.rate) {
      this.streak = []
      this.sinceChange = 0
    }
    this.rate = window.rate
    if (++this.sinceChange <= (this.options.warmupWindows ?? 0)) return {}
    // With no load offered, requests still ending are the backlog of a higher rate draining (or timing out): they
    // say nothing about a rate, so they neither tip nor recover.
    if (window.rate === 0 && window.latencyMs.count > 0) return {}
    const findings = judgeWindow(window, this.options.slo)
    if (findings.length === 0) {
      this.streak = []
      this.healthyStreak++
      if (this.state && this.healthyStreak >= this.recoverAfter) {
        this.state = null
        return {recovered: window.at}
      }
      return {}
    }
    this.healthyStreak = 0
    this.streak.push({findings, window})
    if (this.streak.length < this.tipAfter || this.state?.rate === window.rate) return {}
    this.state = describe(this.streak, this.options.slo)
    return {tipped: this.state}
  }
}

function describe(streak: Array<{window: LiveWindow; findings: Finding[]}>, slo: Slo): Degradation {
  const first = streak[0]!
  const last = streak.at(-1)!
  const rate = first.window.rate
  const limited = streak.filter(({window}) => window.generator.limited)
  const order = ['p99', 'errors', 'achieved'] as const
  const kinds = new Set(streak.flatMap(({findings}) => findings.map((f) => f.kind)))
  const worst = order.find((kind) => kinds.has(kind))!
  const what =
    worst === 'p99'
      ? `p99 over ${slo.p99Ms} ms`
      : worst === 'errors'
        ? last.window.shed > 0
          ? `${pct(last.window.errorRate)} errors (503 refusals: the server sheds load)`
          : `${pct(last.window.errorRate)} errors`
        : `only ${rps(last.window.achievedRps)}/s answered`
  const at = `at ${rps(rate)} req/s`
  let headline: string
  if (limited.length > 0) {
    const late = Math.max(...limited.map(({window}) => window.generator.lateFraction))
    headline =
      `${what} ${at}, but the load generator could not keep its schedule (${pct(late)} of requests sent over ` +
      `${limited[0]!.window.generator.lateThresholdMs} ms late): the generator, or a CPU it shares with the server, is the limit ` +
      'here, not necessarily the server'
  } else headline = `${what} ${at}: the server, not the generator, is the limit`
  return {
    at: first.window.at - first.window.durationMs,
    headline,
    limit: limited.length > 0 ? 'generator' : 'server',
    rate,
    reasons: [...new Set(last.findings.map((f) => f.reason))],
  }
}
