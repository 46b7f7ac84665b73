import type {WebBenchResult} from './bench-web.js'
import {formatBytes} from '../util/bytes.js'

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))

interface Row {
  what: string
  edge: string
  cloud: string
}

function rows(result: WebBenchResult): Row[] {
  const {server, web} = result
  const none = '-'
  return [
    {cloud: server ? ms(server.latencyMs.p50Ms) : none, edge: ms(web.latencyMs.p50Ms), what: 'p50 per prediction (ms)'},
    {cloud: server ? ms(server.latencyMs.p99Ms) : none, edge: ms(web.latencyMs.p99Ms), what: 'p99 per prediction (ms)'},
    {cloud: server ? String(server.ok) : none, edge: String(web.ok), what: 'predictions measured'},
    {
      cloud: server ? String(server.errors) : none,
      edge: String(web.errors),
      what: 'errors',
    },
    {
      cloud: server?.timeToReadyMs == null ? none : `${ms(server.timeToReadyMs)} (start to ready)`,
      edge: `${ms(web.pageLoadToFirstPredictionMs.median)} (page load to first prediction)`,
      what: 'cold start (ms)',
    },
  ]
}

function runtimeLine(result: WebBenchResult): string {
  const {runtime} = result.web
  const fallback = runtime.fallbackReason ? `; WebGPU not used: ${runtime.fallbackReason}` : ''
  return (
    `${runtime.backend === 'webgpu' ? 'WebGPU' : 'WebAssembly SIMD'}, ${runtime.threads} thread${runtime.threads === 1 ? '' : 's'}` +
    `${runtime.crossOriginIsolated ? ', cross-origin isolated' : ', not isolated'}${fallback}`
  )
}

/** The terminal report: edge (the browser) next to cloud (the server), same model, rate and body, same machine. */
export function renderWebBenchText(result: WebBenchResult): string {
  const table = rows(result)
  const w0 = Math.max(...table.map((r) => r.what.length), 4)
  const w1 = Math.max(...table.map((r) => r.edge.length), 'edge (browser)'.length)
  const lines = [
    `${result.model.name}@${result.model.version}: edge (headless Chromium ${result.browser.version}) vs cloud (the server, on this machine)`,
    `  ${result.settings.rate}/s for ${result.settings.durationS} s after ${result.settings.warmupS} s of warm-up, open loop, ` +
      `latency from each prediction's scheduled time; body: ${result.payload.source}`,
    `  browser: ${runtimeLine(result)}, onnxruntime-web ${result.bundle.onnxruntimeWeb}; bundle ${formatBytes(result.bundle.totalBytes)} ` +
      `(runtime ${formatBytes(result.bundle.runtimeBytes)}, model ${formatBytes(result.bundle.modelBytes)})`,
    '',
    `  ${'what'.padEnd(w0)}  ${'edge (browser)'.padEnd(w1)}  cloud (server over HTTP)`,
    ...table.map((r) => `  ${r.what.padEnd(w0)}  ${r.edge.padEnd(w1)}  ${r.cloud}`),
    '',
    `  page loads: ${result.web.pageLoadToFirstPredictionMs.runs.map(ms).join(', ')} ms to the first prediction ` +
      `(${result.settings.loads} cold loads from 127.0.0.1; over a real network add the bundle's download)`,
  ]
  if (result.web.late > 0 || (result.server?.late ?? 0) > 0) {
    lines.push(
      `  late: ${result.web.late} in the browser, ${result.server?.late ?? 0} at the server's generator ` +
        '(predictions started over 10 ms after their time: that side could not keep the rate)',
    )
  }
  if (!result.server) lines.push('  (the server was not measured)')
  return lines.join('\n')
}

/** A self-contained HTML report (no external asset): the same table and a bar chart of p50 and p99. */
export function renderWebBenchHtml(result: WebBenchResult, generatedAt = new Date()): string {
  const table = rows(result)
  const bars: Array<{label: string; value: number; color: string}> = [
    {color: '#2ca02c', label: 'edge p50', value: result.web.latencyMs.p50Ms},
    {color: '#2ca02c', label: 'edge p99', value: result.web.latencyMs.p99Ms},
  ]
  if (result.server) {
    bars.push(
      {color: '#1f77b4', label: 'cloud p50', value: result.server.latencyMs.p50Ms},
      {color: '#1f77b4', label: 'cloud p99', value: result.server.latencyMs.p99Ms},
    )
  }
  const max = Math.max(...bars.map((b) => b.value), 0.001)
  const barHeight = 28
  const width = 640
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${bars.length * (barHeight + 8) + 8}" role="img" aria-label="latency per prediction, ms">
${bars
  .map((b, i) => {
    const y = 8 + i * (barHeight + 8)
    const w = Math.max(1, (b.value / max) * (width - 220))
    return `<text x="0" y="${y + 19}" font-size="13">${esc(b.label)}</text><rect x="90" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${b.color}"/><text x="${(96 + w).toFixed(1)}" y="${y + 19}" font-size="13">${ms(b.value)} ms</text>`
  })
  .join('\n')}
</svg>`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(result.model.name)}: edge vs cloud</title>
<style>body{font:14px/1.45 system-ui,sans-serif;max-width:56rem;margin:1rem auto;padding:0 1rem;color:#1d2330}
table{border-collapse:collapse}td,th{border-bottom:1px solid #dde;padding:.3rem .8rem;text-align:left}
.note{color:#556;font-size:.85rem}</style></head>
<body>
<h1>${esc(result.model.name)} ${esc(result.model.version)}: edge vs cloud</h1>
<p>Edge: the model in headless Chromium ${esc(result.browser.version)} (${esc(runtimeLine(result))}, onnxruntime-web ${esc(result.bundle.onnxruntimeWeb)}).
Cloud: the model's server on the same machine, over HTTP on 127.0.0.1. Both at ${result.settings.rate} predictions/s for
${result.settings.durationS} s (open loop, latency from each prediction's scheduled time), body: ${esc(result.payload.source)}.</p>
<table><thead><tr><th>what</th><th>edge (browser)</th><th>cloud (server)</th></tr></thead><tbody>
${table.map((r) => `<tr><td>${esc(r.what)}</td><td>${esc(r.edge)}</td><td>${esc(r.cloud)}</td></tr>`).join('\n')}
<tr><td>bundle to download</td><td>${formatBytes(result.bundle.totalBytes)} (runtime ${formatBytes(result.bundle.runtimeBytes)}, model ${formatBytes(result.bundle.modelBytes)})</td><td>-</td></tr>
</tbody></table>
<h2>Latency per prediction</h2>
${svg}
<p class="note">Page loads to the first prediction: ${result.web.pageLoadToFirstPredictionMs.runs.map(ms).join(', ')} ms
(${result.settings.loads} cold loads from 127.0.0.1; over a real network, add the download of the bundle).
Generated by mlship bench --target web on ${esc(generatedAt.toISOString())}.</p>
</body></html>
`
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
