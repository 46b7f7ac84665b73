/**
 * Edge benchmark (`npm run bench:edge`, issue 13): the iris and digits models in headless Chromium against their server
 * on this machine. Per model: the bundle's size, page-load-to-first-prediction (cold loads), per-prediction p50/p99 in
 * the browser and at the server at the same rate with the same body; medians of --runs runs. Also the sizes of the
 * other edge artefacts (the WebGPU bundle, the node folder for linux/amd64 and linux/arm64).
 *
 *   npm run bench:edge -- [--runs N] [--rate R] [--duration S] [--quick] [--json]
 *
 * Needs Debian's chromium (scripts/test-browser.sh) and no Docker. Everything it writes is removed at the end.
 */
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {launchChromium} from '../src/browser/chromium.js'
import {buildNodeFolder} from '../src/edge/node-folder.js'
import {examplesDir} from '../src/util/paths.js'
import {runWebBench, type WebBenchResult} from '../src/web/bench-web.js'
import {buildWebBundle} from '../src/web/build-web.js'
import {markdownTable, median, writeBenchmarkSection} from './lib/benchmarks-md.js'

const {values} = parseArgs({
  options: {
    duration: {default: '5', type: 'string'},
    json: {type: 'boolean'},
    quick: {type: 'boolean'},
    rate: {default: '20', type: 'string'},
    runs: {default: '3', type: 'string'},
  },
})
const quick = values.quick ?? false
const runs = quick ? 1 : Number(values.runs)
const durationMs = (quick ? 2 : Number(values.duration)) * 1000
const rate = Number(values.rate)
const log = (line: string) => process.stderr.write(`${line}\n`)
const mb = (bytes: number) =>
  bytes < 1e3 ? `${bytes} B` : bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2))

const chromium = await launchChromium()
const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-edge-'))
const models = ['iris', 'digits-mlp']
const results: Record<string, WebBenchResult[]> = {}
const artefacts: string[][] = []
try {
  for (const model of models) {
    results[model] = []
    for (let run = 0; run < runs; run++) {
      log(`${model}: run ${run + 1} of ${runs}`)
      results[model].push(
        await runWebBench({
          chromium,
          dir: path.join(examplesDir(), model),
          durationMs,
          loads: quick ? 2 : 3,
          onNote: log,
          rate,
          warmupMs: 1000,
        }),
      )
    }
  }
  for (const model of models) {
    const dir = path.join(examplesDir(), model)
    const wasm = await buildWebBundle({dir, outputDir: path.join(work, `${model}-web`)})
    const webgpu = await buildWebBundle({backend: 'webgpu', dir, outputDir: path.join(work, `${model}-webgpu`)})
    const amd64 = await buildNodeFolder({dir, outputDir: path.join(work, `${model}-amd64`), platform: 'linux/amd64'})
    const arm64 = await buildNodeFolder({dir, outputDir: path.join(work, `${model}-arm64`), platform: 'linux/arm64'})
    artefacts.push([
      model,
      mb(wasm.sizes.totalBytes),
      mb(webgpu.sizes.totalBytes),
      mb(amd64.sizeBytes),
      mb(arm64.sizeBytes),
    ])
  }
} finally {
  await chromium.close()
  await rm(work, {force: true, recursive: true})
}

const med = (model: string, pick: (r: WebBenchResult) => number) => median(results[model]!.map(pick))
const rows = models.map((model) => {
  const first = results[model]![0]!
  return [
    model,
    `${mb(first.bundle.totalBytes)} (runtime ${mb(first.bundle.runtimeBytes)}, model ${mb(first.bundle.modelBytes)})`,
    ms(med(model, (r) => r.web.pageLoadToFirstPredictionMs.median)),
    ms(med(model, (r) => r.server!.timeToReadyMs ?? 0)),
    ms(med(model, (r) => r.web.latencyMs.p50Ms)),
    ms(med(model, (r) => r.web.latencyMs.p99Ms)),
    ms(med(model, (r) => r.server!.latencyMs.p50Ms)),
    ms(med(model, (r) => r.server!.latencyMs.p99Ms)),
    `${(med(model, (r) => r.server!.latencyMs.p50Ms) / med(model, (r) => r.web.latencyMs.p50Ms)).toFixed(1)}x`,
  ]
})
const runtime = results[models[0]!]![0]!
if (values.json) process.stdout.write(`${JSON.stringify({artefacts, results}, null, 2)}\n`)

const body = `Edge against cloud on the same machine (issue 13): the model's web bundle in headless Chromium
${runtime.browser.version} (onnxruntime-web ${runtime.bundle.onnxruntimeWeb}, WebAssembly SIMD, cross-origin isolated,
${runtime.web.runtime.threads} thread${runtime.web.runtime.threads === 1 ? '' : 's'}) against the model's server as \`serve --local\` runs it, measured over HTTP on
127.0.0.1 by mlship's load generator (in its own thread). Both sides predict the example body of model.yaml on an
open-loop schedule at ${rate}/s for ${durationMs / 1000} s after 1 s of warm-up, each latency from the prediction's scheduled time;
medians of ${runs} run${runs === 1 ? '' : 's'}. Cold start: for the page, from navigation to the first answer of \`predict()\` (the
runtime and the model fetched from 127.0.0.1, compiled, loaded, warmed up; a real network adds the bundle's download
time); for the server, from its start to its first ready answer.

${markdownTable(
  [
    'model',
    'bundle to download',
    'page load to first prediction (ms)',
    'server start to ready (ms)',
    'browser p50 (ms)',
    'browser p99 (ms)',
    'server p50 (ms)',
    'server p99 (ms)',
    'server p50 / browser p50',
  ],
  rows,
)}

The browser's prediction has no network hop and no HTTP parsing: for a small model it is the cheaper side; the server
pays for HTTP, JSON over the socket and the hand-off to its inference thread, and in exchange starts once for every
user. Sizes of the other edge artefacts (\`mlship build --target web --webgpu\`, \`mlship build --target node\`):

${markdownTable(['model', 'web bundle (WebAssembly)', 'web bundle (WebGPU)', 'node folder linux/amd64', 'node folder linux/arm64'], artefacts)}`

await writeBenchmarkSection({
  body,
  command: `npm run bench:edge${quick ? ' -- --quick' : ''}`,
  id: 'edge',
  title: 'Edge: the model in the browser against its server (issue 13)',
})
