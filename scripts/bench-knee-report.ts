// Renders the JSON results of scripts/bench-knee.sh as a markdown table: one row per stack.
// usage: tsx scripts/bench-knee-report.ts DIR
import {existsSync, readFileSync} from 'node:fs'
import {cpus} from 'node:os'
import path from 'node:path'

import type {BenchResult} from '../src/bench/bench.js'

const dir = process.argv[2] ?? '.'
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

const when = new Date().toISOString().slice(0, 16).replace('T', ' ')
console.log(
  `Measured ${when} UTC on ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), one run, one after the other.`,
)
if (settings && slo) {
  console.log(
    `Open loop, ${settings.arrival} arrivals, ${settings.warmupS} s warm-up + ${settings.durationS} s per step, ${settings.connections} connections; ` +
      `knee = highest offered rate with p99 < ${slo.p99Ms} ms, errors < ${slo.maxErrorRate * 100}% and achieved >= ${slo.minAchievedRatio * 100}% of offered.`,
  )
}
console.log('')
console.log(
  '| stack | knee (req/s) | first degraded (req/s) | limited by | p50 at knee (ms) | p99 at knee (ms) | time to ready | image |',
)
console.log('| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |')
for (const row of rows) console.log(row)
