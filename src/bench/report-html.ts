import type {BenchResult, DeviceRun} from './bench.js'
import {runLabel} from './report-text.js'
import type {StepResult} from './step-result.js'

/**
 * A self-contained HTML report: inline SVG plots (latency percentiles and throughput against the offered rate, the
 * runs overlaid), the step tables and the raw JSON. No script, font or style sheet from anywhere else: it opens
 * offline and can be attached to a CI run.
 */
export function renderHtmlReport(result: BenchResult, generatedAt = new Date()): string {
  const runs = result.runs.filter((run) => run.steps.length > 0)
  const model = result.model ? `${result.model.name} ${result.model.version}, ` : ''
  const title = `mlship bench: ${model}${result.target.method} ${result.target.url}`
  const knees = runs
    .map(
      (run) =>
        `<li><b>${esc(runLabel(run))}</b>: ${run.knee ? esc(run.knee.note) : 'fixed-rate step (no sweep)'}${run.executionProvider ? ` — execution provider <code>${esc(run.executionProvider)}</code>` : ''}</li>`,
    )
    .join('\n')
  const gpu =
    result.gpu.requested && !result.gpu.usable
      ? `<p class="warn">GPU not usable: ${esc(result.gpu.reason ?? 'unknown reason')}. CPU results only.</p>`
      : ''
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;color:#1d1d1f;padding:0 16px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:8px 0}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}th{background:#f4f4f6}td:first-child,th:first-child{text-align:left}
.bad{color:#b00020;font-weight:600}.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:6px 10px}
svg{background:#fff;border:1px solid #e3e3e8;margin:6px 0}code{background:#f4f4f6;padding:0 3px}
details pre{background:#f7f7f9;max-height:400px;overflow:auto;padding:8px}
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p>${esc(result.target.kind)} target, payload: ${esc(result.payload.source)}${result.payload.batchSize === null ? '' : `, ${result.payload.batchSize} row(s) per request`}.
Open-loop load, ${esc(result.settings.arrival)} arrivals, ${result.settings.warmupS} s warm-up + ${result.settings.durationS} s per step, ${result.settings.connections} connections;
each latency is measured from the request's scheduled send time (coordinated omission corrected). SLO: p99 &lt; ${result.slo.p99Ms} ms, errors &lt; ${result.slo.maxErrorRate * 100}%, achieved &ge; ${result.slo.minAchievedRatio * 100}% of offered.
Generated ${esc(generatedAt.toISOString())}.</p>
${gpu}
<ul>${knees}</ul>
<h2>Latency against offered rate</h2>
${latencySvg(runs, result.slo.p99Ms)}
<h2>Throughput against offered rate</h2>
${throughputSvg(runs)}
${runs.map((run) => `<h2>Steps: ${esc(runLabel(run))}</h2>\n${stepsHtml(run.steps)}`).join('\n')}
<details><summary>Raw result (JSON, as <code>--json</code> prints it)</summary><pre>${esc(JSON.stringify(result, null, 2))}</pre></details>
</body>
</html>
`
}

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd']
const W = 900
const H = 360
const M = {bottom: 44, left: 70, right: 170, top: 16}

interface Scale {
  x: (v: number) => number
  y: (v: number) => number
}

function frame(
  xMin: number,
  xMax: number,
  yTicks: Array<{v: number; label: string}>,
  scale: Scale,
  yLabel: string,
): string {
  const xTicks = niceTicks(xMin, xMax, 6)
  const plotBottom = H - M.bottom
  return [
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#999"/>`,
    ...xTicks.map(
      (t) =>
        `<line x1="${scale.x(t)}" x2="${scale.x(t)}" y1="${M.top}" y2="${plotBottom}" stroke="#eee"/><text x="${scale.x(t)}" y="${plotBottom + 16}" text-anchor="middle">${fmt(t)}</text>`,
    ),
    ...yTicks.map(
      (t) =>
        `<line x1="${M.left}" x2="${W - M.right}" y1="${scale.y(t.v)}" y2="${scale.y(t.v)}" stroke="#eee"/><text x="${M.left - 6}" y="${scale.y(t.v) + 4}" text-anchor="end">${esc(t.label)}</text>`,
    ),
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 8}" text-anchor="middle">offered rate (req/s)</text>`,
    `<text transform="translate(16 ${(M.top + plotBottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  ].join('\n')
}

function polyline(points: Array<[number, number]>, color: string, dash: string, label: string): string {
  const d = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')
  const dots = points
    .map(([x, y]) => `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="2.5" fill="${color}"/>`)
    .join('')
  return `<g><title>${esc(label)}</title><polyline points="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}"/>${dots}</g>`
}

function legend(entries: Array<{color: string; dash: string; label: string}>): string {
  return entries
    .map(
      (e, i) =>
        `<line x1="${W - M.right + 12}" x2="${W - M.right + 40}" y1="${M.top + 12 + i * 18}" y2="${M.top + 12 + i * 18}" stroke="${e.color}" stroke-width="2" stroke-dasharray="${e.dash}"/>` +
        `<text x="${W - M.right + 46}" y="${M.top + 16 + i * 18}">${esc(e.label)}</text>`,
    )
    .join('\n')
}

function xRange(runs: readonly DeviceRun[]): [number, number] {
  const rates = runs.flatMap((run) => run.steps.map((s) => s.offeredRps))
  const max = Math.max(...rates, 1)
  return [0, max * 1.05]
}

function xScale(xMin: number, xMax: number): (v: number) => number {
  return (v) => M.left + ((v - xMin) / (xMax - xMin || 1)) * (W - M.left - M.right)
}

function latencySvg(runs: readonly DeviceRun[], sloMs: number): string {
  if (runs.length === 0) return '<p>No steps.</p>'
  const [xMin, xMax] = xRange(runs)
  const values = runs.flatMap((run) => run.steps.flatMap((s) => [s.latencyMs.p50Ms, s.latencyMs.p99Ms]))
  const lo = Math.floor(Math.log10(Math.max(0.01, Math.min(...values, sloMs))))
  const hi = Math.ceil(Math.log10(Math.max(...values, sloMs) * 1.2))
  const top = Math.max(hi, lo + 1)
  const scale: Scale = {
    x: xScale(xMin, xMax),
    y: (v) => H - M.bottom - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (top - lo)) * (H - M.top - M.bottom),
  }
  const yTicks = Array.from({length: top - lo + 1}, (_, i) => ({label: `${fmt(10 ** (lo + i))} ms`, v: 10 ** (lo + i)}))
  const dashes: Record<string, string> = {p50: '2 3', p95: '6 3', p99: ''}
  const entries: Array<{color: string; dash: string; label: string}> = []
  const lines: string[] = []
  runs.forEach((run, i) => {
    const color = COLORS[i % COLORS.length]!
    for (const [key, pick] of [
      ['p99', (s: StepResult) => s.latencyMs.p99Ms],
      ['p95', (s: StepResult) => s.latencyMs.p95Ms],
      ['p50', (s: StepResult) => s.latencyMs.p50Ms],
    ] as const) {
      const label = `${runLabel(run)} ${key}`
      lines.push(
        polyline(
          run.steps.map((s) => [scale.x(s.offeredRps), scale.y(pick(s))]),
          color,
          dashes[key]!,
          label,
        ),
      )
      entries.push({color, dash: dashes[key]!, label})
    }
    if (run.knee?.rps) {
      const x = scale.x(run.knee.rps)
      lines.push(
        `<line x1="${x}" x2="${x}" y1="${M.top}" y2="${H - M.bottom}" stroke="${color}" stroke-dasharray="1 4"/><text x="${x + 4}" y="${M.top + 14 + i * 14}" fill="${color}">knee ${fmt(run.knee.rps)}/s</text>`,
      )
    }
  })
  const slo = scale.y(sloMs)
  lines.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${slo}" y2="${slo}" stroke="#555" stroke-dasharray="8 4"/>`)
  entries.push({color: '#555', dash: '8 4', label: `SLO p99 ${sloMs} ms`})
  return svg('latency percentiles against offered rate', [
    frame(xMin, xMax, yTicks, scale, 'latency (log scale)'),
    ...lines,
    legend(entries),
  ])
}

function throughputSvg(runs: readonly DeviceRun[]): string {
  if (runs.length === 0) return '<p>No steps.</p>'
  const [xMin, xMax] = xRange(runs)
  const yMax = Math.max(xMax, ...runs.flatMap((run) => run.steps.map((s) => s.achievedRps))) * 1.05
  const scale: Scale = {x: xScale(xMin, xMax), y: (v) => H - M.bottom - (v / yMax) * (H - M.top - M.bottom)}
  const yTicks = niceTicks(0, yMax, 6).map((v) => ({label: fmt(v), v}))
  const entries = [{color: '#aaa', dash: '4 4', label: 'achieved = offered'}]
  const lines = [
    polyline(
      [
        [scale.x(0), scale.y(0)],
        [scale.x(xMax), scale.y(xMax)],
      ],
      '#aaa',
      '4 4',
      'achieved = offered',
    ),
  ]
  runs.forEach((run, i) => {
    const color = COLORS[i % COLORS.length]!
    const label = `${runLabel(run)} achieved`
    lines.push(
      polyline(
        run.steps.map((s) => [scale.x(s.offeredRps), scale.y(s.achievedRps)]),
        color,
        '',
        label,
      ),
    )
    entries.push({color, dash: '', label})
  })
  return svg('achieved throughput against offered rate', [
    frame(xMin, xMax, yTicks, scale, 'achieved (req/s)'),
    ...lines,
    legend(entries),
  ])
}

function svg(label: string, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(label)}" font-family="system-ui,sans-serif" font-size="11">\n${parts.join('\n')}\n</svg>`
}

function stepsHtml(steps: readonly StepResult[]): string {
  const head = [
    'offered/s',
    'sent/s',
    'achieved/s',
    'p50',
    'p90',
    'p95',
    'p99',
    'p99.9',
    'max',
    'errors',
    'late sends',
    'verdict',
  ]
  const rows = steps.map((s) => {
    const errors =
      s.errors.total === 0
        ? '0'
        : `${(s.errors.rate * 100).toFixed(2)}% ${esc(JSON.stringify({...s.errors.byStatus, ...Object.fromEntries(Object.entries(s.errors.byKind).filter(([, n]) => n > 0))}))}`
    const cells = [
      fmt(s.offeredRps),
      fmt(s.sentRps),
      fmt(s.achievedRps),
      ...[
        s.latencyMs.p50Ms,
        s.latencyMs.p90Ms,
        s.latencyMs.p95Ms,
        s.latencyMs.p99Ms,
        s.latencyMs.p999Ms,
        s.latencyMs.maxMs,
      ].map((v) => `${v.toFixed(v < 10 ? 2 : 1)} ms`),
      errors,
      `${s.generator.late}${s.generator.limited ? ' (generator-limited)' : ''}`,
      s.verdict === 'ok' ? 'ok' : `<span class="bad" title="${esc(s.reasons.join('; '))}">DEGRADED</span>`,
    ]
    return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`
  })
  return `<table><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>\n${rows.join('\n')}</table>`
}

function niceTicks(min: number, max: number, count: number): number[] {
  const span = max - min
  if (span <= 0) return [min]
  const raw = span / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw
  const ticks: number[] = []
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9 && ticks.length < 50; v += step)
    ticks.push(Math.round(v * 1e6) / 1e6)
  return ticks
}

function fmt(v: number): string {
  if (v >= 1000) return Math.round(v).toLocaleString('en-US')
  if (v >= 1) return String(Math.round(v * 10) / 10)
  return String(Math.round(v * 1000) / 1000)
}

function esc(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}
