import {decodeHistogram, type LatencySummary, summarize} from './histogram.js'
import type {ErrorKind, RawStepResult} from './load-step.js'
import type {Arrival} from './schedule.js'

/** When a step counts as healthy. The defaults are the seed's real-time target. */
export interface Slo {
  /** p99 latency must stay under this. */
  p99Ms: number
  /** Failed requests (any non-2xx, timeout or connection error) must stay under this fraction. */
  maxErrorRate: number
  /** The server must answer at least this fraction of the offered rate. */
  minAchievedRatio: number
}

export const DEFAULT_SLO: Slo = {maxErrorRate: 0.001, minAchievedRatio: 0.95, p99Ms: 100}

/** Above this fraction of late sends, or below this fraction sent in time, the generator limited the step. */
export const GENERATOR_LATE_LIMIT = 0.01
export const GENERATOR_SENT_RATIO = 0.95

export interface StepResult {
  offeredRps: number
  arrival: Arrival
  durationS: number
  warmupS: number
  /** Measured requests (scheduled inside the measured window). */
  requests: number
  /** Requests the generator sent inside the window, per second. */
  sentRps: number
  /** Successful measured requests per second of the time the server took to answer them: the rate it sustained. */
  achievedRps: number
  /** Responses of any status that arrived inside the window, per second. */
  throughputRps: number
  ok: number
  errors: {
    total: number
    rate: number
    byStatus: Record<string, number>
    byKind: Record<Exclude<ErrorKind, 'status'>, number>
  }
  /** From each request's scheduled send time to its end (coordinated omission corrected), all measured requests. */
  latencyMs: LatencySummary
  /** The same for the requests answered with a 2xx only (a server shedding load answers its refusals fast). */
  okLatencyMs?: LatencySummary
  /** The same for the requests refused with 503 (load shedding), when there were any. */
  shedLatencyMs?: LatencySummary
  generator: {
    /** Requests sent later than lateThresholdMs after their scheduled time. */
    late: number
    lateThresholdMs: number
    sendLagP99Ms: number
    sendLagMaxMs: number
    eventLoopDelayP99Ms: number
    /** True when the generator could not keep its schedule: the step measured the generator, not the server. */
    limited: boolean
  }
  verdict: 'ok' | 'degraded'
  /** Why the step is degraded (empty when ok), and notes such as a lagging generator. */
  reasons: string[]
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`

export function toStepResult(raw: RawStepResult, slo: Slo): StepResult {
  const windowS = raw.durationMs / 1000
  const latencyMs = summarize(decodeHistogram(raw.latency))
  const sendLag = summarize(decodeHistogram(raw.sendLag))
  const total = raw.scheduled - raw.ok
  const errorRate = raw.scheduled === 0 ? 0 : total / raw.scheduled
  // Goodput: the window's successful requests over the time the server took to answer them (the window, or longer
  // when a backlog drained after it). A server that keeps up answers at the offered rate; one that does not, at its
  // capacity; a backlog left by the warm-up cannot lift it above either.
  const achievedRps = raw.ok / (Math.max(raw.durationMs, raw.okSpanMs) / 1000)
  const lateFraction = raw.scheduled === 0 ? 0 : raw.late / raw.scheduled
  const sentFraction = raw.scheduled === 0 ? 1 : raw.sentInWindow / raw.scheduled
  const limited = lateFraction > GENERATOR_LATE_LIMIT || sentFraction < GENERATOR_SENT_RATIO
  const reasons: string[] = []
  if (latencyMs.p99Ms >= slo.p99Ms)
    reasons.push(`p99 ${latencyMs.p99Ms.toFixed(1)} ms is over the SLO of ${slo.p99Ms} ms`)
  if (errorRate >= slo.maxErrorRate && total > 0)
    reasons.push(`errors ${pct(errorRate)} reach the limit of ${pct(slo.maxErrorRate)}`)
  if (raw.scheduled > 0 && achievedRps < slo.minAchievedRatio * (raw.scheduled / windowS)) {
    reasons.push(
      `achieved ${achievedRps.toFixed(0)}/s is under ${Math.round(slo.minAchievedRatio * 100)}% of the offered ${raw.offeredRps}/s`,
    )
  }
  const verdict = reasons.length > 0 ? 'degraded' : 'ok'
  if (limited) {
    reasons.push(
      `the generator could not keep its schedule (${pct(lateFraction)} of requests sent over ${raw.lateThresholdMs} ms late): ` +
        'this step measures the generator (or a CPU shared with the server), not the server alone',
    )
  }
  return {
    achievedRps: round1(achievedRps),
    arrival: raw.arrival,
    durationS: windowS,
    errors: {
      byKind: {
        connection: raw.errorsByKind.connection,
        other: raw.errorsByKind.other,
        timeout: raw.errorsByKind.timeout,
      },
      byStatus: raw.errorsByStatus,
      rate: errorRate,
      total,
    },
    generator: {
      eventLoopDelayP99Ms: round1(raw.eventLoopDelay.p99Ms),
      late: raw.late,
      lateThresholdMs: raw.lateThresholdMs,
      limited,
      sendLagMaxMs: sendLag.maxMs,
      sendLagP99Ms: sendLag.p99Ms,
    },
    latencyMs,
    okLatencyMs: summarize(decodeHistogram(raw.okLatency)),
    ...(raw.errorsByStatus['503'] ? {shedLatencyMs: summarize(decodeHistogram(raw.shedLatency))} : {}),
    offeredRps: raw.offeredRps,
    ok: raw.ok,
    reasons,
    requests: raw.scheduled,
    sentRps: round1(raw.sentInWindow / windowS),
    throughputRps: round1(raw.finishedInWindow / windowS),
    verdict,
    warmupS: raw.warmupMs / 1000,
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}
