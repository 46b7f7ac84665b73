import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

import {siblingModule} from '../../worker-thread.js'

/** The page's script and style sheet, built once per session: no CDN, nothing fetched from anywhere else. */
export interface PageAssets {
  script: string
  css: string
}

/**
 * Bundles the page's script with uPlot into one file (esbuild, already mlship's bundler for the server image). From the
 * TypeScript sources (tests, bin/dev.js) the entry is client/live-page.ts; from a build, the .js tsc wrote beside it.
 */
export async function buildPageAssets(): Promise<PageAssets> {
  const entry = fileURLToPath(siblingModule(import.meta.url, 'client/live-page'))
  const require = createRequire(import.meta.url)
  const uplot = JSON.parse(await readFile(require.resolve('uplot/package.json'), 'utf8')) as {version: string}
  const bundled = await build({
    banner: {js: `/*! mlship bench --ui; includes uPlot ${uplot.version} (MIT License, github.com/leeoniya/uPlot) */`},
    bundle: true,
    entryPoints: [entry],
    format: 'iife',
    legalComments: 'inline',
    logLevel: 'silent',
    minify: true,
    platform: 'browser',
    target: 'es2020',
    write: false,
  })
  const uplotCss = await readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')
  return {css: `${uplotCss}\n${PAGE_CSS}`, script: bundled.outputFiles[0]!.text}
}

/** The page's skeleton; the script fills it from the session's snapshot and keeps it current. */
export function renderPage(options: {title: string}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(options.title)}</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header>
  <h1>mlship bench <span class="subtitle">live</span> <span class="connection" data-testid="connection" data-status="connecting">connecting…</span></h1>
  <p class="target" data-testid="target"></p>
</header>
<section class="controls" aria-label="controls">
  <div class="control rate">
    <label for="rate">Offered rate <span class="hint">(open loop: requests go out on schedule, answered or not)</span></label>
    <div class="rate-row">
      <span class="bound">0</span>
      <input id="rate" type="range" min="0" max="1000" step="1" value="0" data-testid="rate">
      <span class="bound" data-testid="rate-max"></span>
      <input id="rate-number" type="number" min="0" step="1" value="0" data-testid="rate-number" aria-label="offered rate in requests per second">
      <span class="unit">req/s</span>
    </div>
  </div>
  <div class="control device">
    <span class="label">Device</span>
    <div class="switch" role="group" aria-label="device">
      <button type="button" data-testid="device-cpu" aria-pressed="true">CPU</button><button type="button" data-testid="device-gpu" aria-pressed="false">GPU</button>
    </div>
    <p class="reason" data-testid="gpu-reason"></p>
  </div>
  <div class="control actions">
    <button type="button" class="primary" data-testid="find-knee">Find the knee</button>
    <a class="button" href="/api/report" download data-testid="save-report">Save report</a>
  </div>
</section>
<section class="banners" data-testid="banners" aria-live="polite"></section>
<section class="readouts" aria-label="readouts">
  <div class="readout"><span class="name">offered</span><span class="value" data-testid="offered-rps">–</span><span class="unit">req/s</span><span class="small" data-testid="sent-rps"></span></div>
  <div class="readout"><span class="name">achieved (2xx)</span><span class="value" data-testid="achieved-rps">–</span><span class="unit">req/s</span></div>
  <div class="readout"><span class="name">p50</span><span class="value" data-testid="p50-ms">–</span><span class="unit">ms</span></div>
  <div class="readout"><span class="name">p95</span><span class="value" data-testid="p95-ms">–</span><span class="unit">ms</span></div>
  <div class="readout"><span class="name">p99</span><span class="value" data-testid="p99-ms">–</span><span class="unit">ms</span></div>
  <div class="readout"><span class="name">errors</span><span class="value" data-testid="error-rate">–</span><span class="unit">of requests</span></div>
  <div class="readout"><span class="name">503 refusals</span><span class="value" data-testid="shed-rate">–</span><span class="unit">of requests</span></div>
</section>
<section class="charts">
  <figure data-testid="figure-latency"><div data-testid="chart-latency"></div></figure>
  <figure data-testid="figure-throughput"><div data-testid="chart-throughput"></div></figure>
  <figure data-testid="figure-errors"><div data-testid="chart-errors"></div></figure>
  <figure data-testid="figure-server"><div data-testid="chart-server"></div></figure>
</section>
<section class="panels">
  <div class="panel">
    <h2>The server <span class="hint">from its /metrics, every second</span></h2>
    <dl class="gauges">
      <dt>queue depth</dt><dd data-testid="gauge-queue-depth">–</dd>
      <dt>batch size</dt><dd data-testid="gauge-batch-size">–</dd>
      <dt>in flight</dt><dd data-testid="gauge-in-flight">–</dd>
      <dt>CPU <span class="hint" data-testid="cpu-note"></span></dt><dd data-testid="gauge-cpu">–</dd>
      <dt>memory</dt><dd data-testid="gauge-memory">–</dd>
    </dl>
    <p class="hint" data-testid="gauges-unavailable"></p>
  </div>
  <div class="panel">
    <h2>The load generator <span class="hint">its own cost, as bench reports it</span></h2>
    <p data-testid="generator">–</p>
    <p class="hint">Requests waiting for an answer: <span data-testid="client-in-flight">–</span>. Latency is measured from each request's scheduled send time, so a late generator or a stalled server cannot hide (coordinated omission corrected).</p>
  </div>
  <div class="panel">
    <h2>Find the knee <span class="hint">bench's sweep, on the chart</span></h2>
    <table class="sweep"><thead><tr><th>offered</th><th>achieved</th><th>p99</th><th>verdict</th></tr></thead><tbody data-testid="sweep-steps"></tbody></table>
    <p data-testid="knee"></p>
  </div>
  <div class="panel">
    <h2>Events</h2>
    <ol class="markers" data-testid="markers"></ol>
  </div>
</section>
<footer>Ctrl-C in the terminal stops the load, the servers and this page.</footer>
<script src="/app.js"></script>
</body>
</html>
`
}

function esc(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')
}

const PAGE_CSS = `
:root{--fg:#1d1d1f;--muted:#6e6e73;--line:#e3e3e8;--bg:#f6f6f8;--accent:#1f6feb;--bad:#b00020;--warn:#9a5b00}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:16px 24px 32px;color:var(--fg);background:var(--bg)}
header h1{font-size:20px;margin:0 0 2px}
.subtitle{color:var(--muted);font-weight:400}
.connection{font-size:12px;font-weight:500;margin-left:10px;padding:2px 8px;border-radius:10px;background:#eee;color:var(--muted);vertical-align:middle}
.connection[data-status=live]{background:#e6f4ea;color:#137333}
.connection[data-status=stopped]{background:#fde8e8;color:var(--bad)}
.target{color:var(--muted);margin:0 0 12px;font-size:13px}
.hint{color:var(--muted);font-weight:400;font-size:12px}
.controls{display:grid;grid-template-columns:minmax(360px,1fr) auto auto;gap:12px;align-items:start}
.control{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.control label,.control .label{display:block;font-weight:600;margin-bottom:6px}
.rate-row{display:flex;align-items:center;gap:8px}
.rate-row input[type=range]{flex:1;accent-color:var(--accent);height:24px}
.rate-row input[type=number]{width:110px;font:inherit;font-size:16px;padding:4px 6px;border:1px solid #ccc;border-radius:6px;text-align:right}
.bound,.unit{color:var(--muted);font-size:12px;white-space:nowrap}
.switch{display:inline-flex;border:1px solid #ccc;border-radius:6px;overflow:hidden}
.switch button{font:inherit;font-weight:600;border:0;padding:6px 18px;background:#fff;cursor:pointer}
.switch button[aria-pressed=true]{background:var(--accent);color:#fff}
.switch button:disabled{color:#aaa;background:#f0f0f2;cursor:not-allowed}
.switch button[aria-pressed=true]:disabled{background:#8fb3ea;color:#fff}
.reason{max-width:300px;font-size:12px;color:var(--muted);margin:6px 0 0}
.actions{display:flex;flex-direction:column;gap:8px}
button.primary,a.button{font:inherit;font-weight:600;padding:7px 14px;border-radius:6px;border:1px solid var(--accent);cursor:pointer;text-align:center;text-decoration:none}
button.primary{background:var(--accent);color:#fff}
button.primary:disabled{opacity:.55;cursor:progress}
a.button{background:#fff;color:var(--accent)}
.banners{margin:12px 0 0}
.banner{padding:8px 12px;border-radius:6px;margin-bottom:8px;font-weight:600}
.banner.bad{background:#fde8e8;border-left:5px solid var(--bad);color:var(--bad)}
.banner.warn{background:#fff4e5;border-left:5px solid #f0a020;color:var(--warn)}
.readouts{display:grid;grid-template-columns:repeat(7,1fr);gap:8px;margin:12px 0}
.readout{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 12px;display:flex;flex-direction:column}
.readout .name{color:var(--muted);font-size:12px}
.readout .value{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums;line-height:1.2}
.readout .small{color:var(--muted);font-size:11px}
.readout.over .value{color:var(--bad)}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:12px}
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:6px 6px 2px;min-width:0}
.u-title{font-size:13px!important;font-weight:600!important}
.panels{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-top:12px}
.panel{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:0}
.panel h2{font-size:14px;margin:0 0 8px}
.gauges{display:grid;grid-template-columns:auto 1fr;gap:2px 12px;margin:0}
.gauges dt{color:var(--muted)}
.gauges dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums;text-align:right;white-space:nowrap}
[data-testid=generator].over{color:var(--bad);font-weight:600}
.sweep{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:13px}
.sweep th,.sweep td{border-bottom:1px solid var(--line);padding:2px 6px;text-align:right}
.sweep tr.bad td{color:var(--bad)}
.markers{margin:0;padding-left:18px;font-size:13px;max-height:180px;overflow:auto}
.markers li[data-kind=degraded]{color:var(--bad)}
.markers li[data-kind=recovered]{color:#137333}
.markers time{color:var(--muted);font-variant-numeric:tabular-nums}
footer{color:var(--muted);font-size:12px;margin-top:16px}
@media (max-width:1100px){.charts{grid-template-columns:1fr}.panels{grid-template-columns:1fr 1fr}.readouts{grid-template-columns:repeat(4,1fr)}.controls{grid-template-columns:1fr}}
`
