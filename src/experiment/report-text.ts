import {renderTable} from '../util/table.js'
import {type ExperimentReport, formatP, type OutcomeReport, type VariantReport} from './analysis.js'

/** The report as a terminal reads it: a table of the variants, predictions, comparisons, and the verdict last. */
export function renderExperimentReport(report: ExperimentReport): string {
  const lines: string[] = []
  const servers = report.servers.length === 1 ? '1 server' : `${report.servers.length} servers`
  const outcome = report.outcome ? `${report.outcome.type} outcome (${report.outcome.goal})` : 'no outcome configured'
  lines.push(
    `Experiment ${report.experiment}: control ${report.control}, ${outcome}; ${servers}, up ${formatDuration(report.uptime_seconds)}`,
    '',
    renderTable(
      ['VARIANT', 'VERSION', 'WEIGHT', 'REQUESTS', 'SHARE', 'ERRORS', 'P50 MS', 'P99 MS', 'OUTCOME (CI)'],
      report.variants.map((v) => [
        v.name,
        v.model_version,
        v.shadow ? 'shadow' : `${v.weight}%`,
        v.shadow ? `(${count(v.copies?.completed ?? 0)} copies)` : count(v.requests),
        v.shadow ? '' : `${v.share.toFixed(1)}%`,
        v.shadow ? count(v.copies?.failed ?? 0) : percent(v.error_rate),
        v.latency_ms.count === 0 ? '' : String(v.latency_ms.p50),
        v.latency_ms.count === 0 ? '' : String(v.latency_ms.p99),
        outcomeCell(v.outcome),
      ]),
    ),
  )
  const forced = report.variants.filter((v) => v.forced > 0)
  if (forced.length > 0)
    lines.push(
      `(forced with X-Mlship-Variant, not counted above: ${forced.map((v) => `${v.name} ${count(v.forced)}`).join(', ')})`,
    )

  const shadows = report.variants.filter((v) => v.copies)
  if (shadows.length > 0) {
    lines.push('', 'Shadows')
    for (const v of shadows) lines.push(`  ${v.name}: ${shadowLine(v)}`)
  }

  const withPredictions = report.variants.filter((v) => v.predictions.classes ?? v.predictions.values)
  if (withPredictions.length > 0) {
    lines.push('', 'Predictions')
    for (const v of withPredictions) lines.push(`  ${v.name}: ${predictionLine(v)}`)
  }

  if (report.sample_ratio) {
    const {expected, observed} = report.sample_ratio
    lines.push(
      '',
      `Split: ${Object.keys(expected)
        .map((name) => `${name} ${observed[name]}% (weight ${expected[name]}%)`)
        .join(
          ', ',
        )}; chi-squared p ${formatP(report.sample_ratio.p_value)}${report.sample_ratio.mismatch ? ': MISMATCH' : ''}`,
    )
  }

  if (report.comparisons.length > 0) {
    const level =
      report.comparison_alpha === report.alpha
        ? `alpha ${report.alpha}`
        : `alpha ${report.alpha} / ${report.comparisons.length} comparisons = ${Number(report.comparison_alpha.toPrecision(3))}`
    const mde =
      report.minimum_detectable_effect === undefined
        ? ''
        : `, minimum detectable effect ${report.minimum_detectable_effect}, power ${report.power}`
    lines.push('', `Against ${report.control} (${level}${mde})`)
    for (const c of report.comparisons) {
      lines.push(`  ${c.variant}: ${c.verdict}`)
      for (const warning of c.warnings) lines.push(`    warning: ${warning}`)
    }
  }
  lines.push('', `Verdict: ${report.verdict}`)
  return lines.join('\n')
}

function outcomeCell(outcome: OutcomeReport | undefined): string {
  if (!outcome) return ''
  const interval = outcome.interval
  if (outcome.kind === 'mean') {
    const ci = interval && Number.isFinite(interval.low) ? ` (${number(interval.low)} to ${number(interval.high)})` : ''
    return `mean ${number(outcome.value)}${ci}, n ${count(outcome.count)}`
  }
  const ci = interval ? ` (${percent(interval.low)} to ${percent(interval.high)})` : ''
  return `${percent(outcome.value)}${ci}, n ${count(outcome.count)}`
}

function shadowLine(v: VariantReport): string {
  const c = v.copies!
  const parts = [`${count(c.completed)} copies answered, ${count(c.shed)} shed, ${count(c.failed)} failed`]
  if (c.agreement !== undefined) {
    const ci = c.agreement_interval
      ? ` (${percent(c.agreement_interval.low)} to ${percent(c.agreement_interval.high)})`
      : ''
    parts.push(`same class as the answer in ${percent(c.agreement)}${ci} of ${count(c.compared_rows)} rows`)
  }
  if (c.abs_difference) {
    const d = c.abs_difference
    parts.push(
      `|shadow - answer| mean ${number(d.mean)}, p50 ${number(d.p50)}, p99 ${number(d.p99)}, max ${number(d.max)}`,
    )
  }
  if (v.outcome) parts.push(`accuracy ${outcomeCell(v.outcome)}`)
  return parts.join('; ')
}

function predictionLine(v: VariantReport): string {
  const {classes, values} = v.predictions
  if (classes) {
    const entries = Object.entries(classes)
    const shown = entries.slice(0, 8).map(([klass, share]) => `${klass} ${percent(share)}`)
    if (entries.length > 8) shown.push(`${entries.length - 8} more`)
    return `${shown.join(', ')} of ${count(v.predictions.rows)} rows`
  }
  const s = values!
  return `mean ${number(s.mean)}, sd ${number(s.sd)}, from ${number(s.min)} to ${number(s.max)} (${count(v.predictions.rows)} rows)`
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(rate * 100 >= 10 || rate === 0 ? 1 : 2)}%`
}

function number(value: number): string {
  return Number(value.toPrecision(4)).toString()
}

function count(n: number): string {
  return n.toLocaleString('en-US')
}

function formatDuration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`
  return `${(seconds / 86_400).toFixed(1)} days`
}
