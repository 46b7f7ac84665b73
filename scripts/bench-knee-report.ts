// Renders the JSON results of scripts/bench-knee.sh as a markdown table, one row per stack, prints it and writes it as
// the BENCHMARKS.md section "Knee of each stack" (scripts/lib/benchmarks-md.ts).
// usage: tsx scripts/bench-knee-report.ts DIR COMMAND
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import type {BenchResult} from '../src/bench/bench.js'
import {writeBenchmarkSection} from './lib/benchmarks-md.js'

const dir = process.argv[2] ?? '.'
const command = process.argv[3] ?? 'npm run bench:knee'
const stacks: Array<[string, string]> = [
  ['ceiling.json', 'generator ceiling: node:http doing no work, separate process'],
  ['local.json', 'mlship, in-process (`--local`)'],
  ['container.json', 'mlship, container (`mlship build`)'],
  ['gunicorn.json', 'seed: gunicorn 2 workers + Flask + scikit-learn (`--url`)'],
]

const rows: string[] = []
let settings: BenchResult['settings'] | undefined
let slo: BenchResult['slo'] | undefined
for (const [file, label] of stacks) {
  const full = path.join(dir, file)
  if (!existsSync(full)) {
    rows.push(`| ${label} | not run | | | | | | |`)
    continue
  }
  const result = JSON.parse(readFileSync(full, 'utf8')) as BenchResult | {error: {message: string}}
  if ('error' in result) {
    rows.push(`| ${label} | failed: ${result.error.message.split('\n')[0]} | | | | | | |`)
    continue
  }
  settings ??= result.settings
  slo ??= result.slo
  for (const run of result.runs) {
    const knee = run.knee?.rps ?? null
    const at = run.steps.find((s) => s.offeredRps === knee)
    const limited = run.knee?.limitedBy ?? '-'
    rows.push(
      `| ${label} | ${knee === null ? 'none' : knee.toLocaleString('en-US')} | ${run.knee?.firstDegradedRps?.toLocaleString('en-US') ?? '-'} | ${limited} | ` +
        `${at ? at.latencyMs.p50Ms.toFixed(2) : '-'} | ${at ? at.latencyMs.p99Ms.toFixed(1) : '-'} | ` +
        `${run.timeToReadyMs === null ? '-' : (run.timeToReadyMs / 1000).toFixed(2) + ' s'} | ${run.imageSizeBytes === null ? '-' : (run.imageSizeBytes / 1e6).toFixed(0) + ' MB'} |`,
    )
  }
}

const lines = ['One sweep per stack, one after the other.']
if (settings && slo) {
  lines.push(
    `Open loop, ${settings.arrival} arrivals, ${settings.warmupS} s warm-up + ${settings.durationS} s per step, ` +
      `${settings.connections} connections; knee = highest offered rate with p99 < ${slo.p99Ms} ms, errors < ` +
      `${slo.maxErrorRate * 100}% and achieved >= ${slo.minAchievedRatio * 100}% of offered. The generator shares the ` +
      'CPUs with the server under test: a knee near the generator ceiling is the machine, not the server.',
  )
}
lines.push(
  '',
  '| stack | knee (req/s) | first degraded (req/s) | limited by | p50 at knee (ms) | p99 at knee (ms) | time to ready | image |',
  '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  ...rows,
)
const body = lines.join('\n')
console.log(body)
await writeBenchmarkSection({body, command, id: 'knee', title: 'Knee of each stack (mlship bench)'})
