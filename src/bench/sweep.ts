import type {StepProgress} from './load-step.js'
import type {Slo, StepResult} from './step-result.js'

/** Runs one step at an offered rate: the generator in production, anything with the same contract in tests. */
export type StepRunner = (rate: number, onProgress?: (progress: StepProgress) => void) => Promise<StepResult>

export interface SweepOptions {
  /** The first offered rate (requests per second). */
  startRate: number
  /** Never offer more than this. */
  maxRate: number
  /** Never go below this while looking for a rate that passes. */
  minRate: number
  /** Geometric growth between steps until one degrades. */
  factor: number
  /** Refining stops when the degraded rate is within this fraction above the healthy one. */
  precision: number
  /** The whole sweep, cool-downs included, ends within this. */
  maxDurationMs: number
  /** The time one step takes (warm-up, window, drain): steps that would overrun the budget are not started. */
  stepCostMs: number
  /** A pause after each step, so a queue left by an overloaded step does not spill into the next one. */
  cooldownMs: number
  slo: Slo
}

export interface SweepHooks {
  onStepStart?: (rate: number, index: number) => void
  onProgress?: (progress: StepProgress) => void
  onStepEnd?: (step: StepResult, index: number) => void
}

export type KneeLimit = 'server' | 'generator' | 'max-rate' | 'time-budget' | 'below-min-rate'

export interface Knee {
  /** The highest offered rate that met the SLO (null: none did). */
  rps: number | null
  /** The lowest offered rate that did not (null: none was tried). */
  firstDegradedRps: number | null
  /** What ended the search: the server degrading, the generator's own limit, --max-rate or the time budget. */
  limitedBy: KneeLimit
  /** One sentence for humans. */
  note: string
}

export interface SweepResult {
  knee: Knee
  /** Every step, in the order run. */
  steps: StepResult[]
  durationS: number
}

export const DEFAULT_SWEEP: Omit<SweepOptions, 'slo' | 'stepCostMs'> = {
  cooldownMs: 1000,
  factor: 2,
  maxDurationMs: 120_000,
  maxRate: 100_000,
  minRate: 1,
  precision: 0.05,
  startRate: 50,
}

export function passes(step: StepResult): boolean {
  return step.verdict === 'ok'
}

/**
 * Finds the knee: the highest offered rate whose step meets the SLO. Rates grow geometrically until a step degrades,
 * then a bisection (on a log scale) between the last healthy and the first degraded rate refines it, like
 * perf_analyzer's --request-rate-range with --latency-threshold. Every phase is bounded by count and by the budget.
 */
export async function sweepForKnee(
  run: StepRunner,
  options: SweepOptions,
  hooks: SweepHooks = {},
): Promise<SweepResult> {
  const started = Date.now()
  const steps: StepResult[] = []
  let healthy: number | null = null
  let degraded: number | null = null
  let degradedStep: StepResult | undefined
  let limitedBy: KneeLimit | undefined

  const hasTime = () => Date.now() - started + options.stepCostMs <= options.maxDurationMs
  const runStep = async (rate: number): Promise<StepResult> => {
    hooks.onStepStart?.(rate, steps.length)
    const step = await run(rate, hooks.onProgress)
    steps.push(step)
    hooks.onStepEnd?.(step, steps.length - 1)
    if (passes(step)) {
      if (healthy === null || rate > healthy) healthy = rate
    } else if (degraded === null || rate < degraded) {
      degraded = rate
      degradedStep = step
    }
    await new Promise((resolve) => setTimeout(resolve, options.cooldownMs))
    return step
  }

  // Up: geometric steps until one degrades.
  let rate = Math.min(options.startRate, options.maxRate)
  for (let i = 0; i < 64; i++) {
    if (!hasTime()) {
      limitedBy = 'time-budget'
      break
    }
    const step = await runStep(rate)
    if (!passes(step)) break
    if (rate >= options.maxRate) {
      limitedBy = 'max-rate'
      break
    }
    rate = Math.min(options.maxRate, roundRate(rate * options.factor))
  }

  // Down, when even the first rate degraded.
  for (let i = 0; i < 8 && healthy === null && degraded !== null && limitedBy === undefined; i++) {
    const raw = degraded / options.factor
    const lower = roundRate(raw)
    if (raw < options.minRate || lower >= degraded) {
      limitedBy = 'below-min-rate'
      break
    }
    if (!hasTime()) {
      limitedBy = 'time-budget'
      break
    }
    await runStep(lower)
  }

  // Refine between the last healthy and the first degraded rate.
  for (let i = 0; i < 16 && limitedBy === undefined && healthy !== null && degraded !== null; i++) {
    if (degraded <= healthy * (1 + options.precision)) break
    const mid = roundRate(Math.sqrt(healthy * degraded))
    if (mid <= healthy || mid >= degraded) break
    if (!hasTime()) {
      limitedBy = 'time-budget'
      break
    }
    await runStep(mid)
  }

  // A generator that could not keep its schedule at the first degraded rate is the news, whatever else ended the
  // search.
  const first = degradedStep
  if (first?.generator.limited) limitedBy = 'generator'
  limitedBy ??= 'server'
  steps.sort((a, b) => a.offeredRps - b.offeredRps)
  return {
    durationS: Math.round((Date.now() - started) / 100) / 10,
    knee: {
      firstDegradedRps: degraded,
      limitedBy,
      note: describeKnee(healthy, degraded, limitedBy, options),
      rps: healthy,
    },
    steps,
  }
}

/** Rates are whole requests per second, with three significant digits from 1,000 up (a knee is not known finer). */
export function roundRate(rate: number): number {
  if (rate < 1000) return Math.max(1, Math.round(rate))
  const magnitude = 10 ** (Math.floor(Math.log10(rate)) - 2)
  return Math.round(rate / magnitude) * magnitude
}

function describeKnee(
  healthy: number | null,
  degraded: number | null,
  limitedBy: KneeLimit,
  options: SweepOptions,
): string {
  const slo = `p99 < ${options.slo.p99Ms} ms, errors < ${options.slo.maxErrorRate * 100}%, achieved >= ${options.slo.minAchievedRatio * 100}% of offered`
  if (healthy === null) {
    if (limitedBy === 'time-budget' && degraded === null)
      return 'No step fitted in the time budget (raise --max-duration).'
    return `No rate met the SLO (${slo}), down to ${degraded ?? options.startRate} req/s.`
  }
  switch (limitedBy) {
    case 'max-rate':
      return `Every rate up to --max-rate ${options.maxRate} req/s met the SLO (${slo}): the knee is above it.`
    case 'time-budget':
      return `The time budget ran out: the knee is at least ${healthy} req/s${degraded === null ? '' : ` and below ${degraded} req/s`}.`
    case 'generator':
      return (
        `${healthy} req/s met the SLO (${slo}); at ${degraded} req/s the load generator itself could not keep its schedule, ` +
        'so the server may well go higher: run the generator on another machine, or compare with the generator ceiling.'
      )
    default:
      return `The knee: ${healthy} req/s met the SLO (${slo}); ${degraded} req/s did not.`
  }
}
