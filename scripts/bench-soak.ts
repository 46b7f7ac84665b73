/**
 * Soak: a long run at half the knee, watching the server for leaks (`npm run bench:soak`).
 *
 *   npm run bench:soak -- [--local] [--minutes 30] [--quick] [--rate N] [--dir examples/iris] [--out DIR] [--no-write]
 *
 * 1. Starts the model's server: the container `mlship build` makes (default; MLSHIP_TEST_BASE_IMAGE or --base-image as
 *    its base), or `mlship serve --local` in a process of its own (--local), so that what is sampled is the server
 *    alone, never this script's load generator.
 * 2. Finds the knee with `mlship bench --url` against it (unless --rate), then offers half of it, open-loop, for the
 *    whole run.
 * 3. Every 10 s (--quick: every 2 s) reads the server's own /metrics: resident memory, V8 heap in use, event-loop lag
 *    (p99) and open file descriptors, with the p99 latency of the requests that ended since the last sample.
 * 4. Reports the growth between minute 5 and the end (medians of the samples a minute either side, so one GC does not
 *    decide it) and fails (exit 1) when resident memory or heap grew more than 5%. Writes an SVG of RSS and p99 over
 *    time, and its BENCHMARKS.md section (not with --quick or --no-write).
 *
 * --quick is the CI version: 2 minutes, the knee from a short sweep; it fails on growth above 5% that goes on across
 * three windows after the first half minute (or above 15% in any case): resident memory still settles in steps that
 * early, so a one-off step is not a leak there (scripts/lib/soak-growth.ts). It catches a fast leak, not a slow one;
 * the full run is the one to trust.
 */
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {mkdir, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {parseArgs, promisify} from 'node:util'

import {LiveLoadGenerator} from '../src/bench/live-generator.js'
import type {LiveWindow} from '../src/bench/live-load.js'
import {containerTarget} from '../src/bench/container-target.js'
import type {BenchTarget} from '../src/bench/target.js'
import {markdownTable, writeBenchmarkSection} from './lib/benchmarks-md.js'
import {median, windowGrowth} from './lib/soak-growth.js'

const {values} = parseArgs({
  options: {
    'base-image': {type: 'string'},
    dir: {type: 'string'},
    local: {type: 'boolean'},
    minutes: {type: 'string'},
    'no-write': {type: 'boolean'},
    out: {type: 'string'},
    quick: {type: 'boolean'},
    rate: {type: 'string'},
  },
})
const root = path.resolve(import.meta.dirname, '..')
const quick = values.quick ?? false
const local = values.local ?? false
const minutes = Number(values.minutes ?? (quick ? 2 : 30))
const durationMs = minutes * 60_000
const sampleMs = quick ? 2000 : 10_000
// Growth from minute 5 of 30 (a sixth of the run) to the end; each end a median over a minute (a fifteenth) around it.
// A 2-minute run is still settling in its first minute (the knee sweep before it, lazy allocations): from its middle.
const fromMs = quick ? durationMs / 2 : durationMs / 6
// --quick: half a minute each end (15 samples), so that the heap's saw-tooth between collections evens out.
const spanMs = quick ? durationMs / 4 : durationMs / 15
const limitPercent = 5
const dir = path.resolve(values.dir ?? path.join(root, 'examples/iris'))
const targetName = local ? 'local' : 'container'
const outDir = path.resolve(
  values.out ?? (quick ? path.join(os.tmpdir(), 'mlship-soak') : path.join(root, 'docs/bench')),
)
const write = !quick && !(values['no-write'] ?? false)
const log = (line: string) => process.stderr.write(`soak: ${line}\n`)
const cli = path.join(root, 'bin/run.js')
const run = promisify(execFile)

interface Sample {
  /** Seconds since the load started. */
  t: number
  rssBytes: number
  heapUsedBytes: number
  eventLoopLagP99Ms: number
  openFds: number
  p99Ms: number
  achievedRps: number
  errors: number
}

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const {port} = probe.address() as {port: number}
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/** `serve --local` as a user runs it, in a process of its own. */
async function startLocal(): Promise<{url: string; close: () => Promise<void>}> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, [cli, 'serve', dir, '--local', '--port', String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const base = `http://127.0.0.1:${port}`
  for (let i = 0; i < 600; i++) {
    const ready = await fetch(`${base}/ready`)
      .then((r) => r.ok)
      .catch(() => false)
    if (ready) break
    if (child.exitCode !== null) throw new Error(`serve --local exited with ${child.exitCode}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    close: async () => {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    },
    url: `${base}/predict`,
  }
}

async function startContainer(): Promise<{url: string; close: () => Promise<void>; image: string}> {
  const tag = `mlship-soak/${path.basename(dir)}:${process.pid}-${Date.now().toString(36)}`
  const target: BenchTarget = await containerTarget({
    baseImage: values['base-image'] ?? process.env.MLSHIP_TEST_BASE_IMAGE,
    dir,
    onNote: log,
    tag,
  }).start('cpu')
  return {
    close: async () => {
      await target.close()
      await run('docker', ['rmi', tag]).catch(() => undefined)
    },
    image: tag,
    url: target.url,
  }
}

/** The knee from `mlship bench --url` (a sweep; shorter steps and budget with --quick). */
async function findKnee(url: string): Promise<number> {
  const args = ['bench', dir, '--url', url, '--json']
  args.push(...(quick ? ['--duration', '2', '--warmup', '1', '--max-duration', '30'] : ['--max-duration', '120']))
  log(`finding the knee: mlship ${args.join(' ')}`)
  const {stdout} = await run(process.execPath, [cli, ...args], {maxBuffer: 64 * 1024 * 1024})
  const result = JSON.parse(stdout) as {runs: Array<{knee: {rps: number | null} | null}>}
  const knee = result.runs[0]?.knee?.rps
  if (!knee) throw new Error(`mlship bench found no rate under the SLO at ${url}`)
  return knee
}

/** One reading of the server's /metrics (prom-client's process and Node.js metrics). */
async function readMetrics(metricsUrl: string): Promise<Omit<Sample, 't' | 'p99Ms' | 'achievedRps' | 'errors'>> {
  const text = await (await fetch(metricsUrl, {signal: AbortSignal.timeout(5000)})).text()
  const value = (name: string) => {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)
    if (!match) throw new Error(`${metricsUrl} has no ${name}`)
    return Number(match[1])
  }
  return {
    eventLoopLagP99Ms: value('mlship_nodejs_eventloop_lag_p99_seconds') * 1000,
    heapUsedBytes: value('mlship_nodejs_heap_size_used_bytes'),
    openFds: value('mlship_process_open_fds'),
    rssBytes: value('mlship_process_resident_memory_bytes'),
  }
}

function growth(samples: Sample[], key: keyof Sample): {from: number; to: number; percent: number} {
  const around = (centre: number) =>
    samples.filter((s) => Math.abs(s.t * 1000 - centre) <= spanMs / 2).map((s) => s[key])
  const first = around(fromMs)
  const last = samples.filter((s) => s.t * 1000 >= durationMs - spanMs).map((s) => s[key])
  const from = median(first.length > 0 ? first : [samples[0]![key]])
  const to = median(last.length > 0 ? last : [samples.at(-1)![key]])
  return {from, percent: from === 0 ? 0 : ((to - from) / from) * 100, to}
}

/** RSS (MB, left axis) and p99 (ms, right axis) over time, as a small hand-written SVG. */
function plot(samples: Sample[], title: string): string {
  const width = 800
  const height = 360
  const pad = {bottom: 40, left: 60, right: 60, top: 40}
  const w = width - pad.left - pad.right
  const h = height - pad.top - pad.bottom
  const tMax = Math.max(durationMs / 1000, ...samples.map((s) => s.t))
  const rss = samples.map((s) => s.rssBytes / 1e6)
  const p99 = samples.map((s) => s.p99Ms)
  const rssMax = Math.max(...rss) * 1.1
  const p99Max = Math.max(1, ...p99) * 1.1
  const x = (t: number) => pad.left + (t / tMax) * w
  const yRss = (v: number) => pad.top + h - (v / rssMax) * h
  const yP99 = (v: number) => pad.top + h - (v / p99Max) * h
  const line = (ys: number[], y: (v: number) => number) =>
    samples.map((s, i) => `${x(s.t).toFixed(1)},${y(ys[i]!).toFixed(1)}`).join(' ')
  const ticks = [0, 0.25, 0.5, 0.75, 1]
  const grid = ticks
    .map((f) => {
      const yy = pad.top + h - f * h
      return (
        `<line x1="${pad.left}" x2="${pad.left + w}" y1="${yy}" y2="${yy}" stroke="#ddd"/>` +
        `<text x="${pad.left - 6}" y="${yy + 4}" text-anchor="end" fill="#1f77b4">${(f * rssMax).toFixed(0)}</text>` +
        `<text x="${pad.left + w + 6}" y="${yy + 4}" fill="#d62728">${(f * p99Max).toFixed(1)}</text>`
      )
    })
    .join('')
  const xTicks = ticks
    .map(
      (f) =>
        `<text x="${x(f * tMax)}" y="${pad.top + h + 18}" text-anchor="middle">${((f * tMax) / 60).toFixed(1)}</text>`,
    )
    .join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>
${grid}${xTicks}
<text x="${pad.left + w / 2}" y="${height - 6}" text-anchor="middle">minutes</text>
<text x="14" y="${pad.top + h / 2}" transform="rotate(-90 14 ${pad.top + h / 2})" text-anchor="middle" fill="#1f77b4">RSS (MB)</text>
<text x="${width - 14}" y="${pad.top + h / 2}" transform="rotate(90 ${width - 14} ${pad.top + h / 2})" text-anchor="middle" fill="#d62728">p99 (ms)</text>
<rect x="${x(fromMs / 1000 - spanMs / 2000)}" y="${pad.top}" width="${(spanMs / 1000 / tMax) * w}" height="${h}" fill="#eee" opacity="0.6"/>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${line(rss, yRss)}"/>
<polyline fill="none" stroke="#d62728" stroke-width="1" points="${line(p99, yP99)}"/>
</svg>
`
}

const server = local ? await startLocal() : await startContainer()
let failed = false
try {
  const metricsUrl = new URL('/metrics', server.url).toString()
  const knee = values.rate ? undefined : await findKnee(server.url)
  const rate = values.rate ? Number(values.rate) : Math.max(1, Math.round(knee! / 2))
  log(
    `${targetName}: ${knee ? `knee ${knee} req/s, ` : ''}offering ${rate} req/s for ${minutes} min, sampling every ${sampleMs / 1000} s`,
  )

  const body = JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]})
  const windows: LiveWindow[] = []
  const samples: Sample[] = []
  const generator = LiveLoadGenerator.start(
    {
      arrival: 'constant',
      bodies: [body],
      connections: 64,
      headers: {'content-type': 'application/json'},
      lateThresholdMs: 10,
      method: 'POST',
      rate,
      target: targetName,
      timeoutMs: 5000,
      url: server.url,
      warmupMs: 0,
      windowMs: sampleMs,
    },
    {
      onFailure: (error) => {
        log(`load generator failed: ${String(error)}`)
        failed = true
      },
      onSegment: () => {},
      onWindow: (window) => windows.push(window),
    },
  )
  const started = Date.now()
  try {
    while (Date.now() - started < durationMs && !failed) {
      await new Promise((resolve) => setTimeout(resolve, sampleMs - ((Date.now() - started) % sampleMs)))
      const window = windows.at(-1)
      const metrics = await readMetrics(metricsUrl)
      const sample: Sample = {
        ...metrics,
        achievedRps: window?.achievedRps ?? 0,
        errors: window?.errors ?? 0,
        p99Ms: window?.latencyMs.p99Ms ?? 0,
        t: Math.round((Date.now() - started) / 100) / 10,
      }
      samples.push(sample)
      if (samples.length % Math.max(1, Math.round(60_000 / sampleMs)) === 0 || quick) {
        log(
          `${(sample.t / 60).toFixed(1)} min: RSS ${(sample.rssBytes / 1e6).toFixed(1)} MB, heap ${(sample.heapUsedBytes / 1e6).toFixed(1)} MB, ` +
            `lag p99 ${sample.eventLoopLagP99Ms.toFixed(1)} ms, fds ${sample.openFds}, p99 ${sample.p99Ms.toFixed(1)} ms, ` +
            `${sample.achievedRps.toFixed(0)} req/s ok, ${sample.errors} errors`,
        )
      }
    }
  } finally {
    await generator.stop()
  }

  const rss = growth(samples, 'rssBytes')
  const heap = growth(samples, 'heapUsedBytes')
  const fds = growth(samples, 'openFds')
  const lag = growth(samples, 'eventLoopLagP99Ms')
  const p99 = growth(samples, 'p99Ms')
  const errors = samples.reduce((sum, s) => sum + s.errors, 0)
  // --quick: growth that goes on across three windows after the first half minute (lib/soak-growth.ts says why).
  const quickVerdict = (key: 'rssBytes' | 'heapUsedBytes') =>
    windowGrowth(
      samples.map((s) => ({tMs: s.t * 1000, value: s[key]})),
      {endMs: durationMs, fromMs: durationMs / 4, limitPercent, windows: 3},
    )
  const quickRss = quick ? quickVerdict('rssBytes') : undefined
  const quickHeap = quick ? quickVerdict('heapUsedBytes') : undefined
  const leaking =
    quickRss && quickHeap
      ? quickRss.leaking || quickHeap.leaking
      : rss.percent > limitPercent || heap.percent > limitPercent
  const fromLabel = `${(fromMs / 60_000).toFixed(1)} min`
  const rows = [
    ['resident memory (RSS)', mb(rss.from), mb(rss.to), pct(rss.percent)],
    ['V8 heap in use', mb(heap.from), mb(heap.to), pct(heap.percent)],
    ['open file descriptors', fds.from.toFixed(0), fds.to.toFixed(0), pct(fds.percent)],
    ['event-loop lag p99', ms(lag.from), ms(lag.to), pct(lag.percent)],
    ['request p99', ms(p99.from), ms(p99.to), pct(p99.percent)],
  ]
  const table = markdownTable(['', `at ${fromLabel}`, `at ${minutes} min`, 'growth'], rows)
  process.stdout.write(`${table}\n`)
  for (const [name, verdict] of [
    ['RSS', quickRss],
    ['heap', quickHeap],
  ] as const) {
    if (!verdict) continue
    log(
      `${name}, medians of three windows from ${(durationMs / 4 / 60_000).toFixed(1)} min: ` +
        `${verdict.medians.map(mb).join(' -> ')} (${verdict.stepsPercent.map(pct).join(', ')}; ` +
        `${verdict.sustained ? 'growth goes on' : 'no growth that goes on'})`,
    )
  }
  const rule = quick
    ? `growth limit ${limitPercent}% on RSS and heap when it goes on across windows (${3 * limitPercent}% in any case)`
    : `growth limit ${limitPercent}% on RSS and heap`
  log(`${errors} failed requests; ${rule}: ${leaking ? 'EXCEEDED' : 'kept'}`)

  await mkdir(outDir, {recursive: true})
  const svgFile = path.join(outDir, `soak-${targetName}.svg`)
  await writeFile(
    svgFile,
    plot(samples, `mlship soak, ${targetName}, ${rate} req/s (half the knee) for ${minutes} min: RSS and p99`),
  )
  await writeFile(path.join(outDir, `soak-${targetName}.json`), `${JSON.stringify({knee, rate, samples}, null, 1)}\n`)
  log(`wrote ${svgFile}`)

  if (write) {
    await writeBenchmarkSection({
      body: [
        `The model's server under constant open-loop load at half its knee (knee ${knee ?? 'not measured'} req/s, ${rate} req/s offered)`,
        `for ${minutes} minutes, ${targetName === 'container' ? 'in the container `mlship build` makes' : 'as `mlship serve --local` in its own process'}; the server's own /metrics read every ${sampleMs / 1000} s.`,
        `Growth from minute ${(fromMs / 60_000).toFixed(0)} to the end, each end the median of the samples within ${(spanMs / 120_000).toFixed(1)} min of it;`,
        `the run fails above ${limitPercent}% on RSS or heap. ${errors} requests failed.`,
        '',
        table,
        '',
        `![RSS and p99 over time](${path.relative(root, svgFile)})`,
      ].join('\n'),
      command: `npm run bench:soak${local ? ' -- --local' : ''}`,
      id: `soak-${targetName}`,
      title: `Soak (${targetName}): ${minutes} minutes at half the knee`,
    })
    log('BENCHMARKS.md section written')
  }
  if (leaking) {
    log(`resident memory or heap grew more than ${limitPercent}% between ${fromLabel} and ${minutes} min: a leak?`)
    process.exitCode = 1
  }
  if (failed) process.exitCode = 1
} finally {
  await server.close()
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

function ms(value: number): string {
  return `${value.toFixed(1)} ms`
}

function pct(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}%`
}
