/**
 * Soak: a long run at half the knee, watching the server for leaks (`npm run bench:soak`).
 *
 *   npm run bench:soak -- [--local] [--minutes 30] [--quick] [--rate N] [--dir examples/iris] [--out DIR] [--no-write]
 *   npm run bench:soak -- --samples docs/bench/soak-container.json [--rate N]   (judges an earlier run's samples again)
 *
 * 1. Starts the model's server: the container `mlship build` makes (default; MLSHIP_TEST_BASE_IMAGE or --base-image as
 *    its base), or `mlship serve --local` in a process of its own (--local), so that what is sampled is the server
 *    alone, never this script's load generator.
 * 2. Finds the knee with `mlship bench --url` against it (unless --rate), then offers half of it, open-loop, for the
 *    whole run.
 * 3. Every 10 s (--quick: every 2 s) reads the server's own /metrics: resident memory, V8 heap in use, event-loop lag
 *    (p99) and open file descriptors, with the p99 latency of the requests that ended since the last sample.
 * 4. Reports the medians of five 5-minute windows from minute 5 to the end, and fails (exit 1) when resident memory or
 *    heap grew more than 5% and went on growing from window to window (or grew more than 15% in any case): a leak
 *    grows in every window, while a heap's saw-tooth between collections (a fifth of its size) or a one-off step while
 *    memory settles does not (scripts/lib/soak-growth.ts). Writes an SVG of RSS and p99 over time, the samples as
 *    JSON, and its BENCHMARKS.md section (not with --quick or --no-write).
 *
 * --quick is the CI version: 3 minutes, the knee from a short sweep, three 40-second windows after the first
 * minute, resident memory outside V8's heap judged (the heap only reported: it rises until V8's first full collection,
 * which 3 minutes do not reach, and the pages V8 adds for it are RSS too; RSS above 15% fails in any case). It
 * catches a fast leak, not a slow one; the full run is the one to trust.
 */
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {parseArgs, promisify} from 'node:util'

import {LiveLoadGenerator} from '../src/bench/live-generator.js'
import type {LiveWindow} from '../src/bench/live-load.js'
import {containerTarget} from '../src/bench/container-target.js'
import type {BenchTarget} from '../src/bench/target.js'
import {markdownTable, writeBenchmarkSection} from './lib/benchmarks-md.js'
import {soakVerdict, type WindowGrowth, windowGrowth} from './lib/soak-growth.js'

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
    samples: {type: 'string'},
  },
})
const root = path.resolve(import.meta.dirname, '..')
const quick = values.quick ?? false
const local = values.local ?? false
const minutes = Number(values.minutes ?? (quick ? 3 : 30))
const durationMs = minutes * 60_000
const sampleMs = quick ? 2000 : 10_000
// Judged from minute 5 of 30 (a sixth of the run) in five windows; a 3-minute run from its first minute in three: its
// resident memory still settles for about a minute (the knee sweep before it, lazy allocations, allocator arenas): a
// clean CI run read 313 -> 321 -> 323 MB (+3.3%, each window higher) from its first half minute, +1.0% from minute 1.
const fromMs = quick ? durationMs / 3 : durationMs / 6
const windowCount = quick ? 3 : 5
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
  /** V8's heap as committed (nodejs_heap_size_total_bytes): the part of RSS that V8's collections decide. */
  heapTotalBytes?: number
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
    heapTotalBytes: value('mlship_nodejs_heap_size_total_bytes'),
    heapUsedBytes: value('mlship_nodejs_heap_size_used_bytes'),
    openFds: value('mlship_process_open_fds'),
    rssBytes: value('mlship_process_resident_memory_bytes'),
  }
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
<rect x="${x(fromMs / 1000)}" y="${pad.top}" width="${((durationMs - fromMs) / 1000 / tMax) * w}" height="${h}" fill="#eee" opacity="0.4"/>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${line(rss, yRss)}"/>
<polyline fill="none" stroke="#d62728" stroke-width="1" points="${line(p99, yP99)}"/>
</svg>
`
}

interface SoakRun {
  knee: number | undefined
  rate: number
  samples: Sample[]
  failed: boolean
}

/** Starts the server, finds the knee, offers half of it for the whole run while sampling /metrics, stops the server. */
async function measure(): Promise<SoakRun> {
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
            `${(sample.t / 60).toFixed(1)} min: RSS ${(sample.rssBytes / 1e6).toFixed(1)} MB, heap ${(sample.heapUsedBytes / 1e6).toFixed(1)} MB ` +
              `(${((sample.heapTotalBytes ?? 0) / 1e6).toFixed(1)} MB committed), ` +
              `lag p99 ${sample.eventLoopLagP99Ms.toFixed(1)} ms, fds ${sample.openFds}, p99 ${sample.p99Ms.toFixed(1)} ms, ` +
              `${sample.achievedRps.toFixed(0)} req/s ok, ${sample.errors} errors`,
          )
        }
      }
    } finally {
      await generator.stop()
    }
    return {failed, knee, rate, samples}
  } finally {
    await server.close()
  }
}

// --samples FILE judges (and writes up) the samples of an earlier run again, e.g. after the rule changed.
const {failed, knee, rate, samples}: SoakRun = values.samples
  ? {...(JSON.parse(await readFile(values.samples, 'utf8')) as Omit<SoakRun, 'failed'>), failed: false}
  : await measure()
// The verdict: growth that goes on across consecutive windows after the start (scripts/lib/soak-growth.ts): a
// 3-minute run in three windows from its first minute, a long one in five from minute 5. A heap's saw-tooth
// between collections spans a fifth of its size, so comparing one minute at each end read a flat heap as +10%.
const judgeValues = (value: (sample: Sample) => number) =>
  windowGrowth(
    samples.map((s) => ({tMs: s.t * 1000, value: value(s)})),
    {endMs: durationMs, fromMs: fromMs, limitPercent, windows: windowCount},
  )
const judge = (key: keyof Sample) => judgeValues((sample) => sample[key] ?? 0)
const rss = judge('rssBytes')
const heap = judge('heapUsedBytes')
// Resident memory outside V8's heap (samples of an earlier run may lack the committed heap): see soakVerdict.
const outsideHeap = samples.every((sample) => sample.heapTotalBytes !== undefined)
  ? judgeValues((sample) => sample.rssBytes - sample.heapTotalBytes!)
  : undefined
const errors = samples.reduce((sum, s) => sum + s.errors, 0)
const {heapJudged, leaking, residentJudged} = soakVerdict(rss, heap, {limitPercent, outsideHeap, quick})
const windowMinutes = (durationMs - fromMs) / windowCount / 60_000
const minute = (ms: number) => `${Number((ms / 60_000).toFixed(1))}`
const firstWindow = `minutes ${minute(fromMs)}-${minute(fromMs + windowMinutes * 60_000)}`
const lastWindow = `minutes ${minute(durationMs - windowMinutes * 60_000)}-${minute(durationMs)}`
const row = (name: string, key: keyof Sample, format: (value: number) => string, judged?: WindowGrowth) => {
  const verdict = judged ?? judge(key)
  const steps = verdict.stepsPercent.map(pct).join(', ')
  return [name, format(verdict.medians[0]!), format(verdict.medians.at(-1)!), pct(verdict.totalPercent), steps]
}
const rows = [
  row('resident memory (RSS)', 'rssBytes', mb, rss),
  ...(outsideHeap ? [row("RSS outside V8's heap", 'rssBytes', mb, outsideHeap)] : []),
  row('V8 heap in use', 'heapUsedBytes', mb, heap),
  row('open file descriptors', 'openFds', (value) => value.toFixed(0)),
  row('event-loop lag p99', 'eventLoopLagP99Ms', ms),
  row('request p99', 'p99Ms', ms),
]
const table = markdownTable(['', firstWindow, lastWindow, 'growth', 'window to window'], rows)
process.stdout.write(`${table}\n`)
const judged = heapJudged ? 'RSS or heap' : residentJudged === 'outside-heap' ? "RSS outside V8's heap" : 'RSS'
const rule =
  `growth above ${limitPercent}% on ${judged} that goes on across ${windowCount} windows ` +
  `of ${minute(windowMinutes * 60_000)} min (above ${3 * limitPercent}%${heapJudged ? '' : ' of RSS'} in any case)` +
  (heapJudged ? '' : "; the heap is left to the long run (a few minutes end before V8's first full collection)")
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
      knee
        ? `The model's server under constant open-loop load at half its knee (knee ${knee} req/s, ${rate} req/s offered)`
        : `The model's server under constant open-loop load at ${rate} req/s (--rate)`,
      `for ${minutes} minutes, ${targetName === 'container' ? 'in the container `mlship build` makes' : 'as `mlship serve --local` in its own process'}; the server's own /metrics read every ${sampleMs / 1000} s.`,
      `Medians of ${windowCount} windows of ${minute(windowMinutes * 60_000)} min from minute ${minute(fromMs)} to the end; the run fails on ${rule}`,
      `(a leak grows in every window; a heap's saw-tooth or a one-off step does not). ${errors} requests failed.`,
      ...(values.samples
        ? [
            `The samples of an earlier run (${path.relative(root, values.samples)}), judged again with --samples:`,
            'the commit and load average above are those of the judging, not of the run.',
          ]
        : []),
      '',
      table,
      '',
      `![RSS and p99 over time](${path.relative(root, svgFile)})`,
    ].join('\n'),
    command: `npm run bench:soak${local ? ' -- --local' : ''}${values.rate ? ` -- --rate ${values.rate}` : ''}`,
    id: `soak-${targetName}`,
    title: `Soak (${targetName}): ${minutes} minutes at ${knee ? 'half the knee' : `${rate} req/s`}`,
  })
  log('BENCHMARKS.md section written')
}
if (leaking) {
  log(
    `${heapJudged ? 'resident memory or heap' : 'resident memory'} grew more than ${limitPercent}% across the ` +
      'windows, and went on growing: a leak?',
  )
  process.exitCode = 1
}
if (failed) process.exitCode = 1

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

function ms(value: number): string {
  return `${value.toFixed(1)} ms`
}

function pct(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}%`
}
