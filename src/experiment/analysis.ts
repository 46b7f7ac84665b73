import * as hdr from 'hdr-histogram-js'

import type {OutcomeType} from '../config/experiment.js'
import {
  meanInterval,
  meanSampleSize,
  type Interval,
  pooledSd,
  proportionSampleSize,
  twoProportionTest,
  welchTest,
  wilsonInterval,
  chiSquaredGoodnessOfFit,
} from './statistics.js'
import {type ExperimentSnapshot, mergeSummaries, type OutcomeSummary, type VariantSnapshot} from './snapshot.js'

/** Outcomes each arm needs before a comparison is worth stating (the normal approximations need a few dozen). */
export const MIN_OUTCOMES = 30
/** Below this p-value the observed split differs from the weights: something is biased. */
const SAMPLE_RATIO_ALPHA = 0.001

export interface ExperimentReport {
  experiment: string
  /** The servers whose counts were added up. */
  servers: string[]
  uptime_seconds: number
  control: string
  outcome?: {type: OutcomeType; goal: 'maximize' | 'minimize'}
  minimum_detectable_effect?: number
  alpha: number
  /** The significance level each comparison is held to: alpha divided by the comparisons made (Bonferroni). */
  comparison_alpha: number
  power: number
  /** Whether the observed split matches the weights (a chi-squared test). */
  sample_ratio?: {
    expected: Record<string, number>
    observed: Record<string, number>
    p_value: number
    mismatch: boolean
  }
  variants: VariantReport[]
  comparisons: ComparisonReport[]
  verdict: string
}

export interface VariantReport {
  name: string
  model: string
  model_version: string
  weight: number
  shadow: boolean
  requests: number
  /** Percentage of the experiment's requests it answered. */
  share: number
  forced: number
  errors: number
  /** 5xx answers over answers. */
  error_rate: number
  client_errors: number
  /** Of its answers (a shadow: of its inferences). */
  latency_ms: {count: number; p50: number; p99: number}
  predictions: {
    rows: number
    classes?: Record<string, number>
    values?: {mean: number; sd: number; min: number; max: number}
  }
  /** A shadow's copies: how many it answered, how many were shed, and how often it agreed with the answer. */
  copies?: {
    completed: number
    shed: number
    failed: number
    compared_rows: number
    agreement?: number
    agreement_interval?: Interval
    abs_difference?: {mean: number; p50: number; p99: number; max: number}
  }
  outcome?: OutcomeReport
}

export interface OutcomeReport {
  /** Outcomes (rows) reported. */
  count: number
  /** rate (binary), accuracy (label) or mean (number). */
  kind: 'rate' | 'accuracy' | 'mean'
  value: number
  /** 95% (1 - alpha) interval: Wilson's for a rate, Student's t for a mean. */
  interval?: Interval
  sd?: number
}

export interface ComparisonReport {
  variant: string
  control: string
  kind: OutcomeReport['kind']
  /** Variant minus control. */
  difference?: number
  interval?: Interval
  p_value?: number
  significant: boolean
  /** Significant and in the direction of experiment.outcome.goal. */
  better?: boolean
  /** Outcomes each arm needs for the minimum detectable effect, and how many more that is. */
  needed?: {control: number; variant: number; more_control: number; more_variant: number}
  verdict: string
  /** Guardrails: a variant that fails more often, or is much slower, than the control. */
  warnings: string[]
}

/** Adds up the snapshots of several replicas of one experiment (the same variants, counted apart). */
export function mergeSnapshots(snapshots: readonly ExperimentSnapshot[]): ExperimentSnapshot {
  const [first, ...rest] = snapshots
  if (!first) throw new Error('no snapshot to merge')
  const merged: ExperimentSnapshot = structuredClone(first)
  for (const other of rest) {
    if (other.experiment !== first.experiment) {
      throw new Error(`the servers run different experiments: "${first.experiment}" and "${other.experiment}"`)
    }
    merged.uptime_seconds = Math.max(merged.uptime_seconds, other.uptime_seconds)
    if (other.started_at < merged.started_at) merged.started_at = other.started_at
    for (const variant of other.variants) {
      const into = merged.variants.find((v) => v.name === variant.name)
      if (!into) merged.variants.push(structuredClone(variant))
      else mergeVariant(into, variant)
    }
  }
  return merged
}

function mergeVariant(into: VariantSnapshot, other: VariantSnapshot): void {
  into.requests += other.requests
  into.forced += other.forced
  into.errors += other.errors
  into.client_errors += other.client_errors
  into.latency_us_hdr = addHistograms(into.latency_us_hdr, other.latency_us_hdr)
  into.predictions.rows += other.predictions.rows
  if (other.predictions.classes) {
    into.predictions.classes ??= {}
    for (const [klass, count] of Object.entries(other.predictions.classes))
      into.predictions.classes[klass] = (into.predictions.classes[klass] ?? 0) + count
  }
  if (other.predictions.values) {
    const a = into.predictions.values
    const b = other.predictions.values
    into.predictions.values = a
      ? {...mergeSummaries(a, b), max: Math.max(a.max, b.max), min: Math.min(a.min, b.min)}
      : {...b}
  }
  if (other.copies) {
    const a = into.copies
    const b = other.copies
    if (!a) into.copies = {...b}
    else {
      a.completed += b.completed
      a.shed += b.shed
      a.failed += b.failed
      a.compared_rows += b.compared_rows
      if (b.agreeing_rows !== undefined) a.agreeing_rows = (a.agreeing_rows ?? 0) + b.agreeing_rows
      if (b.abs_difference_hdr)
        a.abs_difference_hdr = a.abs_difference_hdr
          ? addHistograms(a.abs_difference_hdr, b.abs_difference_hdr)
          : b.abs_difference_hdr
    }
  }
  if (other.outcomes)
    into.outcomes = into.outcomes ? mergeSummaries(into.outcomes, other.outcomes) : {...other.outcomes}
}

function decode(encoded: string): hdr.Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, false)
}

function addHistograms(a: string, b: string): string {
  const sum = hdr.build({autoResize: true, bitBucketSize: 32, numberOfSignificantValueDigits: 3, useWebAssembly: false})
  sum.add(decode(a))
  sum.add(decode(b))
  return hdr.encodeIntoCompressedBase64(sum)
}

/**
 * The experiment report: per variant what it served and how (split, errors, latency, predictions, shadow agreement,
 * outcome with its interval), and each variant that answers compared with the control on the outcome (difference,
 * interval, p-value: a two-proportion z-test for rates and accuracies, Welch's t-test for means), with the outcomes
 * still needed for the minimum detectable effect and a verdict in words.
 */
export function analyseExperiment(snapshot: ExperimentSnapshot, servers: string[] = []): ExperimentReport {
  const confidence = 1 - snapshot.alpha
  const answering = snapshot.variants.filter((v) => !v.shadow)
  const totalRequests = answering.reduce((sum, v) => sum + v.requests, 0)
  const kind = outcomeKind(snapshot.outcome?.type)
  const variants = snapshot.variants.map((v) => variantReport(v, totalRequests, kind, confidence))
  const control = variants.find((v) => v.name === snapshot.control)
  const treatments = variants.filter((v) => !v.shadow && v.name !== snapshot.control && v.weight > 0)
  const comparisonAlpha = snapshot.alpha / Math.max(1, treatments.length)
  const comparisons =
    control && kind
      ? treatments.map((variant) =>
          compare(
            variant,
            control,
            kind,
            snapshot,
            comparisonAlpha,
            snapshot.variants.find((v) => v.name === variant.name)!,
          ),
        )
      : []
  const sampleRatio = sampleRatioCheck(answering)
  const report: ExperimentReport = {
    alpha: snapshot.alpha,
    comparison_alpha: comparisonAlpha,
    comparisons,
    control: snapshot.control,
    experiment: snapshot.experiment,
    ...(snapshot.minimum_detectable_effect === undefined
      ? {}
      : {minimum_detectable_effect: snapshot.minimum_detectable_effect}),
    ...(snapshot.outcome ? {outcome: snapshot.outcome} : {}),
    power: snapshot.power,
    ...(sampleRatio ? {sample_ratio: sampleRatio} : {}),
    servers,
    uptime_seconds: snapshot.uptime_seconds,
    variants,
    verdict: '',
  }
  report.verdict = overallVerdict(report)
  return report
}

function outcomeKind(type: OutcomeType | undefined): OutcomeReport['kind'] | undefined {
  if (type === 'binary') return 'rate'
  if (type === 'label') return 'accuracy'
  if (type === 'number') return 'mean'
  return undefined
}

function variantReport(
  v: VariantSnapshot,
  totalRequests: number,
  kind: OutcomeReport['kind'] | undefined,
  confidence: number,
): VariantReport {
  const latency = decode(v.latency_us_hdr)
  // Three significant digits: what the histogram resolves.
  const at = (percentile: number) =>
    latency.totalCount === 0 ? 0 : Number((latency.getValueAtPercentile(percentile) / 1000).toPrecision(3))
  const answers = v.requests + v.forced
  const report: VariantReport = {
    client_errors: v.client_errors,
    error_rate: answers === 0 ? 0 : v.errors / answers,
    errors: v.errors,
    forced: v.forced,
    latency_ms: {count: latency.totalCount, p50: at(50), p99: at(99)},
    model: v.model,
    model_version: v.model_version,
    name: v.name,
    predictions: {rows: v.predictions.rows},
    requests: v.requests,
    shadow: v.shadow,
    share: v.shadow || totalRequests === 0 ? 0 : (v.requests / totalRequests) * 100,
    weight: v.weight,
  }
  const classes = v.predictions.classes
  if (classes) {
    const total = Object.values(classes).reduce((sum, c) => sum + c, 0)
    report.predictions.classes = Object.fromEntries(
      Object.entries(classes)
        .sort((a, b) => b[1] - a[1])
        .map(([klass, count]) => [klass, count / total]),
    )
  }
  const values = v.predictions.values
  if (values) report.predictions.values = {max: values.max, mean: values.mean, min: values.min, sd: sd(values)}
  if (v.copies) {
    const c = v.copies
    report.copies = {compared_rows: c.compared_rows, completed: c.completed, failed: c.failed, shed: c.shed}
    if (c.agreeing_rows !== undefined && c.compared_rows > 0) {
      report.copies.agreement = c.agreeing_rows / c.compared_rows
      report.copies.agreement_interval = wilsonInterval({n: c.compared_rows, successes: c.agreeing_rows}, confidence)
    }
    if (c.abs_difference_hdr) {
      const d = decode(c.abs_difference_hdr)
      const value = (micro: number) => micro / 1e6
      report.copies.abs_difference = {
        max: value(d.maxValue),
        mean: value(d.mean),
        p50: value(d.getValueAtPercentile(50)),
        p99: value(d.getValueAtPercentile(99)),
      }
    }
  }
  if (kind && v.outcomes && v.outcomes.count > 0) report.outcome = outcomeReport(v.outcomes, kind, confidence)
  return report
}

function sd(summary: OutcomeSummary): number {
  return summary.count < 2 ? 0 : Math.sqrt(summary.m2 / (summary.count - 1))
}

function successes(summary: OutcomeSummary): number {
  return Math.round(summary.mean * summary.count)
}

function outcomeReport(summary: OutcomeSummary, kind: OutcomeReport['kind'], confidence: number): OutcomeReport {
  if (kind === 'mean') {
    return {
      count: summary.count,
      ...(summary.count >= 2
        ? {interval: meanInterval({mean: summary.mean, n: summary.count, variance: sd(summary) ** 2}, confidence)}
        : {}),
      kind,
      sd: sd(summary),
      value: summary.mean,
    }
  }
  return {
    count: summary.count,
    interval: wilsonInterval({n: summary.count, successes: successes(summary)}, confidence),
    kind,
    value: summary.mean,
  }
}

function compare(
  variant: VariantReport,
  control: VariantReport,
  kind: OutcomeReport['kind'],
  snapshot: ExperimentSnapshot,
  alpha: number,
  raw: VariantSnapshot,
): ComparisonReport {
  const controlRaw = snapshot.variants.find((v) => v.name === control.name)!
  const a = controlRaw.outcomes ?? {count: 0, m2: 0, mean: 0}
  const b = raw.outcomes ?? {count: 0, m2: 0, mean: 0}
  const warnings = guardrails(variant, control, raw, controlRaw, alpha)
  const base = {control: control.name, kind, variant: variant.name, warnings}
  const mde = snapshot.minimum_detectable_effect
  const ratio = variant.weight / control.weight
  const sizing = {alpha, power: snapshot.power, ratio: Number.isFinite(ratio) && ratio > 0 ? ratio : 1}
  const needed = (size: {control: number; treatment: number}) => ({
    control: size.control,
    more_control: Math.max(0, size.control - a.count),
    more_variant: Math.max(0, size.treatment - b.count),
    variant: size.treatment,
  })

  if (a.count < MIN_OUTCOMES || b.count < MIN_OUTCOMES) {
    const what = `${variant.name} has ${b.count} outcome${b.count === 1 ? '' : 's'} and ${control.name} ${a.count}`
    return {
      ...base,
      significant: false,
      verdict: `not enough data yet: ${what}; at least ${MIN_OUTCOMES} each are needed before a comparison means anything`,
    }
  }

  let comparison
  let sizes: ReturnType<typeof needed> | undefined
  if (kind === 'mean') {
    const sa = {mean: a.mean, n: a.count, variance: sd(a) ** 2}
    const sb = {mean: b.mean, n: b.count, variance: sd(b) ** 2}
    comparison = welchTest(sa, sb, 1 - alpha)
    const spread = pooledSd(sa, sb)
    if (mde !== undefined && spread > 0) sizes = needed(meanSampleSize(spread, mde, sizing))
  } else {
    comparison = twoProportionTest(
      {n: a.count, successes: successes(a)},
      {n: b.count, successes: successes(b)},
      1 - alpha,
    )
    if (mde !== undefined) sizes = needed(proportionSampleSize(a.mean, mde, sizing))
  }
  const significant = comparison.pValue < alpha
  const goal = snapshot.outcome?.goal ?? 'maximize'
  const better = significant ? (goal === 'maximize') === comparison.difference > 0 : undefined
  const shown = describeComparison(kind, variant.name, control.name, b.mean, a.mean, comparison, alpha)
  let verdict: string
  if (significant) {
    verdict = `${variant.name} is ${better ? 'better' : 'worse'} than ${control.name} with p ${formatP(comparison.pValue)}: ${shown}`
  } else if (sizes && (sizes.more_control > 0 || sizes.more_variant > 0)) {
    verdict = `not enough data yet: no significant difference (p ${formatP(comparison.pValue)}); about ${formatCount(sizes.more_variant)} more outcomes for ${variant.name} and ${formatCount(sizes.more_control)} for ${control.name} are needed to detect a difference of ${formatEffect(kind, mde!)} (${shown})`
  } else if (sizes) {
    verdict = `no difference of ${formatEffect(kind, mde!)} or more: p ${formatP(comparison.pValue)} with enough data to detect one (${shown})`
  } else {
    verdict = `no significant difference yet (p ${formatP(comparison.pValue)}; ${shown}); set experiment.minimum_detectable_effect to know how much data is enough`
  }
  return {
    ...base,
    better,
    difference: comparison.difference,
    interval: comparison.interval,
    ...(sizes ? {needed: sizes} : {}),
    p_value: comparison.pValue,
    significant,
    verdict,
  }
}

/** A variant that fails significantly more often than the control, or is much slower, is said so. */
function guardrails(
  variant: VariantReport,
  control: VariantReport,
  raw: VariantSnapshot,
  controlRaw: VariantSnapshot,
  alpha: number,
): string[] {
  const warnings: string[] = []
  const answersA = controlRaw.requests
  const answersB = raw.requests
  if (answersA > 0 && answersB > 0 && raw.errors + controlRaw.errors > 0) {
    const test = twoProportionTest({n: answersA, successes: controlRaw.errors}, {n: answersB, successes: raw.errors})
    if (test.difference > 0 && test.pValue < alpha)
      warnings.push(
        `${variant.name} fails more often: ${formatPercent(variant.error_rate)} of its answers are errors against ${formatPercent(control.error_rate)} (p ${formatP(test.pValue)})`,
      )
  }
  if (variant.latency_ms.count >= 100 && control.latency_ms.count >= 100 && control.latency_ms.p99 > 0) {
    const ratio = variant.latency_ms.p99 / control.latency_ms.p99
    if (ratio >= 1.5)
      warnings.push(
        `${variant.name} is slower: p99 ${variant.latency_ms.p99} ms against ${control.latency_ms.p99} ms (${ratio.toFixed(1)}x)`,
      )
  }
  return warnings
}

function sampleRatioCheck(answering: VariantSnapshot[]): ExperimentReport['sample_ratio'] {
  const weighted = answering.filter((v) => v.weight > 0)
  const total = weighted.reduce((sum, v) => sum + v.requests, 0)
  if (weighted.length < 2 || total < 100) return undefined
  const test = chiSquaredGoodnessOfFit(
    weighted.map((v) => v.requests),
    weighted.map((v) => v.weight),
  )
  return {
    expected: Object.fromEntries(weighted.map((v) => [v.name, v.weight])),
    mismatch: test.pValue < SAMPLE_RATIO_ALPHA,
    observed: Object.fromEntries(weighted.map((v) => [v.name, Math.round((v.requests / total) * 10_000) / 100])),
    p_value: test.pValue,
  }
}

function overallVerdict(report: ExperimentReport): string {
  const parts: string[] = []
  if (report.sample_ratio?.mismatch) {
    const observed = Object.entries(report.sample_ratio.observed)
      .map(([name, share]) => `${name} ${share}%`)
      .join(', ')
    parts.push(
      `the split does not match the weights (${observed}; p ${formatP(report.sample_ratio.p_value)}): the assignment or the counting is biased, so the comparison cannot be trusted`,
    )
  }
  if (!report.outcome) {
    parts.push(
      'no outcome is configured (experiment.outcome): compare the latency, errors, predictions and shadow agreement above',
    )
  } else if (report.comparisons.length === 0) {
    parts.push('no variant answers beside the control: nothing to compare')
  } else {
    parts.push(...report.comparisons.map((c) => c.verdict))
  }
  return parts.join('; ')
}

function describeComparison(
  kind: OutcomeReport['kind'],
  variant: string,
  control: string,
  b: number,
  a: number,
  {difference, interval}: {difference: number; interval: Interval},
  alpha: number,
): string {
  const ci = `${Number(((1 - alpha) * 100).toPrecision(3))}% CI`
  if (kind === 'mean') {
    return `mean ${formatNumber(b)} for ${variant} against ${formatNumber(a)} for ${control} (${signed(formatNumber(difference))}, ${ci} ${signed(formatNumber(interval.low))} to ${signed(formatNumber(interval.high))})`
  }
  const what = kind === 'rate' ? 'rate' : 'accuracy'
  return `${what} ${formatPercent(b)} for ${variant} against ${formatPercent(a)} for ${control} (${signed(formatPoints(difference))} points, ${ci} ${signed(formatPoints(interval.low))} to ${signed(formatPoints(interval.high))})`
}

export function formatP(p: number): string {
  if (p < 0.001) return '< 0.001'
  if (p < 0.01) return `= ${p.toFixed(3)}`
  return `= ${p.toFixed(2)}`
}

function formatPercent(rate: number): string {
  return `${(rate * 100).toFixed(rate * 100 >= 10 ? 1 : 2)}%`
}

function formatPoints(difference: number): string {
  return (difference * 100).toFixed(1)
}

function formatNumber(value: number): string {
  return Number(value.toPrecision(4)).toString()
}

function signed(text: string): string {
  return text.startsWith('-') ? text : `+${text}`
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

function formatEffect(kind: OutcomeReport['kind'], mde: number): string {
  return kind === 'mean' ? formatNumber(mde) : `${formatPoints(mde)} points`
}
