import * as asciichart from 'asciichart'

import {renderTable} from '../util/table.js'
import type {BenchResult, DeviceRun} from './bench.js'
import type {StepProgress} from './load-step.js'
import type {Slo, StepResult} from './step-result.js'
import {formatBytes} from '../util/bytes.js'

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))
const rps = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : String(Math.round(x * 10) / 10))
const pct = (x: number) => (x === 0 ? '0' : `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`)

export function runLabel(run: Pick<DeviceRun, 'device'>): string {
  return run.device ?? 'server'
}

/** The live readout of a running step: one line, rewritten in place on a TTY. */
export function liveLine(progress: StepProgress, slo: Slo, label: string): string {
  const degraded =
    progress.p99Ms >= slo.p99Ms ||
    (progress.phase !== 'warmup' && progress.throughputRps < progress.offeredRps * slo.minAchievedRatio)
  return (
    `${label.padEnd(8)} ${progress.phase.padEnd(7)} ${(progress.elapsedMs / 1000).toFixed(1).padStart(5)}s  ` +
    `offered ${rps(progress.offeredRps)}/s  done ${rps(progress.throughputRps)}/s  ` +
    `p50 ${ms(progress.p50Ms)} ms  p99 ${ms(progress.p99Ms)} ms  errors ${progress.errors}  in flight ${progress.inFlight}` +
    (degraded ? '  DEGRADED' : '')
  )
}

/** One line per finished step (CI logs, and under the live line on a TTY). */
export function stepLine(step: StepResult, label: string): string {
  const mark = step.verdict === 'ok' ? 'ok' : 'DEGRADED'
  const generator = step.generator.limited ? '  (generator-limited)' : ''
  return (
    `${label.padEnd(6)} offered ${rps(step.offeredRps).padStart(7)}/s  achieved ${rps(step.achievedRps).padStart(7)}/s  ` +
    `p50 ${ms(step.latencyMs.p50Ms).padStart(6)} ms  p99 ${ms(step.latencyMs.p99Ms).padStart(6)} ms  ` +
    `errors ${pct(step.errors.rate).padStart(5)}  ${mark}${generator}`
  )
}

export function stepsTable(steps: readonly StepResult[]): string {
  return renderTable(
    [
      'offered/s',
      'sent/s',
      'achieved/s',
      'p50 ms',
      'p90 ms',
      'p95 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'errors',
      'late sends',
      'verdict',
    ],
    steps.map((s) => [
      rps(s.offeredRps),
      rps(s.sentRps),
      rps(s.achievedRps),
      ms(s.latencyMs.p50Ms),
      ms(s.latencyMs.p90Ms),
      ms(s.latencyMs.p95Ms),
      ms(s.latencyMs.p99Ms),
      ms(s.latencyMs.p999Ms),
      ms(s.latencyMs.maxMs),
      errorCell(s),
      s.generator.late === 0 ? '0' : `${s.generator.late}${s.generator.limited ? ' (limited)' : ''}`,
      s.verdict === 'ok' ? 'ok' : 'DEGRADED',
    ]),
  )
}

function errorCell(step: StepResult): string {
  if (step.errors.total === 0) return '0'
  const parts = [
    ...Object.entries(step.errors.byStatus).map(([status, n]) => `${status}:${n}`),
    ...Object.entries(step.errors.byKind)
      .filter(([, n]) => n > 0)
      .map(([kind, n]) => `${kind}:${n}`),
  ]
  return `${pct(step.errors.rate)} (${parts.join(' ')})`
}

/** p99 (and p50) against the offered rate, on a log latency scale, one line per run. */
export function latencyChart(
  runs: readonly DeviceRun[],
  slo: Slo,
  options: {width?: number; height?: number; color?: boolean} = {},
): string {
  const steps = runs.flatMap((run) => run.steps)
  if (steps.length < 2) return ''
  const width = options.width ?? 60
  const minRate = Math.min(...steps.map((s) => s.offeredRps))
  const maxRate = Math.max(...steps.map((s) => s.offeredRps))
  if (maxRate <= minRate) return ''
  const xs = Array.from({length: width}, (_, i) => minRate + ((maxRate - minRate) * i) / (width - 1))
  const series: number[][] = []
  const legend: string[] = []
  const palette = [asciichart.red, asciichart.blue, asciichart.green, asciichart.magenta]
  const colors: string[] = []
  runs.forEach((run, i) => {
    if (run.steps.length === 0) return
    series.push(
      xs.map((x) =>
        Math.log10(
          Math.max(
            0.01,
            interpolate(run.steps, x, (s) => s.latencyMs.p99Ms),
          ),
        ),
      ),
    )
    series.push(
      xs.map((x) =>
        Math.log10(
          Math.max(
            0.01,
            interpolate(run.steps, x, (s) => s.latencyMs.p50Ms),
          ),
        ),
      ),
    )
    colors.push(palette[(2 * i) % palette.length]!, palette[(2 * i + 1) % palette.length]!)
    legend.push(`${runLabel(run)} p99`, `${runLabel(run)} p50`)
  })
  series.push(xs.map(() => Math.log10(slo.p99Ms)))
  colors.push(asciichart.darkgray)
  legend.push(`SLO ${slo.p99Ms} ms`)
  const chart = asciichart.plot(series, {
    colors: options.color ? colors : undefined,
    format: (y: number) => `${ms(10 ** y).padStart(7)} ms`,
    height: options.height ?? 12,
  })
  const axis = `${' '.repeat(12)}${rps(minRate)}/s${' '.repeat(Math.max(1, width - rps(minRate).length - rps(maxRate).length - 4))}${rps(maxRate)}/s`
  return `latency against offered rate (log scale)\n${chart}\n${axis}\n${' '.repeat(12)}series in order: ${legend.join(', ')}`
}

/** A step's value at rate x, linear between the measured steps (runs are sorted by offered rate). */
export function interpolate(steps: readonly StepResult[], x: number, value: (s: StepResult) => number): number {
  const first = steps[0]!
  if (x <= first.offeredRps) return value(first)
  for (let i = 1; i < steps.length; i++) {
    const a = steps[i - 1]!
    const b = steps[i]!
    if (x <= b.offeredRps) {
      const t = (x - a.offeredRps) / (b.offeredRps - a.offeredRps || 1)
      return value(a) + t * (value(b) - value(a))
    }
  }
  return value(steps.at(-1)!)
}

/** Runs side by side: knee, latency at the rates every run measured, time to ready, image size, provider. */
export function comparisonTable(result: BenchResult): string {
  const common = commonRates(result.runs).slice(-4)
  const headers = ['', ...result.runs.map((run) => runLabel(run))]
  const row = (label: string, cell: (run: DeviceRun) => string) => [label, ...result.runs.map(cell)]
  const rows = [
    row('knee (req/s)', (run) =>
      run.knee
        ? run.knee.rps === null
          ? 'none'
          : `${rps(run.knee.rps)}${run.knee.limitedBy === 'server' ? '' : ` (${run.knee.limitedBy})`}`
        : '-',
    ),
    row('execution provider', (run) => run.executionProvider ?? 'not reported'),
    row('time to ready', (run) => (run.timeToReadyMs === null ? '-' : `${(run.timeToReadyMs / 1000).toFixed(2)} s`)),
    row('image size', (run) => (run.imageSizeBytes === null ? '-' : formatBytes(run.imageSizeBytes))),
    ...common.map((rate) =>
      row(`p99 at ${rps(rate)}/s`, (run) => {
        const step = run.steps.find((s) => s.offeredRps === rate)
        return step ? `${ms(step.latencyMs.p99Ms)} ms${step.verdict === 'ok' ? '' : ' DEGRADED'}` : '-'
      }),
    ),
  ]
  return renderTable(headers, rows)
}

export function commonRates(runs: readonly DeviceRun[]): number[] {
  if (runs.length === 0) return []
  return runs[0]!.steps
    .map((s) => s.offeredRps)
    .filter((rate) => runs.every((run) => run.steps.some((s) => s.offeredRps === rate)))
}

/** The human report printed after the run. */
export function renderReport(result: BenchResult, options: {color?: boolean} = {}): string {
  const out: string[] = []
  out.push(
    `target   ${result.target.method} ${result.target.url} (${result.target.kind})`,
    `payload  ${result.payload.source}${result.payload.batchSize === null ? '' : `, ${result.payload.batchSize} row(s) per request`}`,
    `load     open loop, ${result.settings.arrival} arrivals, ${result.settings.warmupS} s warm-up + ${result.settings.durationS} s per step, ` +
      `${result.settings.connections} connections, timeout ${result.settings.timeoutMs} ms; latency from each request's scheduled send time`,
    `SLO      p99 < ${result.slo.p99Ms} ms, errors < ${result.slo.maxErrorRate * 100}%, achieved >= ${result.slo.minAchievedRatio * 100}% of offered`,
  )
  if (result.gpu.requested && !result.gpu.usable)
    out.push(`GPU      not usable: ${result.gpu.reason}. CPU results only.`)
  for (const run of result.runs) {
    out.push(
      '',
      `== ${runLabel(run)}${run.executionProvider ? ` (execution provider: ${run.executionProvider})` : ''}`,
      stepsTable(run.steps),
    )
    if (run.knee) out.push('', run.knee.note)
    const lagging = run.steps.filter((s) => s.generator.limited)
    if (lagging.length > 0) {
      out.push(
        `note: the generator could not keep its schedule at ${lagging.map((s) => `${rps(s.offeredRps)}/s`).join(', ')} ` +
          `(over 1% of requests sent more than ${lagging[0]!.generator.lateThresholdMs} ms late): those steps measure the generator, ` +
          'or a CPU it shares with the server, as much as the server.',
      )
    }
  }
  if (result.runs.length > 1) out.push('', comparisonTable(result))
  const chart = latencyChart(result.runs, result.slo, options)
  if (chart) out.push('', chart)
  return out.join('\n')
}
