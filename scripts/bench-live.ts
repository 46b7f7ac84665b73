/**
 * The live load of `bench --ui` against the fixed-rate steps of `bench` (`npm run bench:live`): the same rates, the
 * same step settings, against bench/peers/trivial-server.mjs (a node:http server that does no work, in a process of
 * its own), so what is measured is each generator's own cost. The live load must send on schedule wherever the step
 * generator does: the page shows the server, not a slower generator.
 *
 *   npm run bench:live -- [--quick] [--runs N] [--rates 1000,2000,4000,8000]
 *
 * Per rate and run, one step of each (the order alternates between runs): late sends (over 10 ms), achieved rate, p99.
 * Medians over the runs; a rate is "kept" by a generator when under 1% of its sends were late (bench's own rule).
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {createServer} from 'node:net'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {LoadGenerator} from '../src/bench/generator.js'
import {LiveLoadGenerator} from '../src/bench/live-generator.js'
import {DEFAULT_SLO, GENERATOR_LATE_LIMIT, type StepResult, toStepResult} from '../src/bench/step-result.js'
import {markdownTable, median, writeBenchmarkSection} from './lib/benchmarks-md.js'

const {values} = parseArgs({
  options: {
    quick: {type: 'boolean'},
    rates: {type: 'string'},
    runs: {type: 'string'},
  },
})
const quick = values.quick ?? false
const runs = Number(values.runs ?? (quick ? 1 : 3))
const rates = (values.rates ?? (quick ? '1000,3000' : '1000,2000,4000,8000')).split(',').map(Number)
const durationMs = quick ? 2000 : 4000
const warmupMs = 1000
const root = path.resolve(import.meta.dirname, '..')
const body = JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]})
const log = (line: string) => process.stderr.write(`${line}\n`)

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const {port} = probe.address() as {port: number}
  await new Promise((resolve) => probe.close(resolve))
  return port
}

async function waitListening(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url, {body, method: 'POST'})
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  throw new Error(`${url} did not answer`)
}

const port = await freePort()
const url = `http://127.0.0.1:${port}/predict`
const server: ChildProcess = spawn(
  process.execPath,
  [path.join(root, 'bench/peers/trivial-server.mjs'), String(port)],
  {
    stdio: 'ignore',
  },
)
const headers = {'content-type': 'application/json'}
const stepGenerator = LoadGenerator.start()
const live = LiveLoadGenerator.start(
  {
    arrival: 'constant',
    bodies: [body],
    connections: 64,
    headers,
    lateThresholdMs: 10,
    method: 'POST',
    rate: 0,
    target: null,
    timeoutMs: 5000,
    url,
    warmupMs,
    windowMs: 1000,
  },
  {
    onFailure: (error) => {
      throw error
    },
    onSegment: () => {},
    onWindow: () => {},
  },
)

type Kind = 'step' | 'live'
const results: Record<Kind, Map<number, StepResult[]>> = {live: new Map(), step: new Map()}
const cooldown = () => new Promise((resolve) => setTimeout(resolve, 1000))

async function measure(kind: Kind, rate: number): Promise<StepResult> {
  if (kind === 'live') return toStepResult((await live.step(rate, durationMs, 0)).raw, DEFAULT_SLO)
  return stepGenerator.step(
    {
      arrival: 'constant',
      bodies: [body],
      connections: 64,
      durationMs,
      headers,
      lateThresholdMs: 10,
      method: 'POST',
      rate,
      timeoutMs: 5000,
      url,
      warmupMs,
    },
    DEFAULT_SLO,
  )
}

try {
  await waitListening(url)
  for (let run = 0; run < runs; run++) {
    for (const rate of rates) {
      const order: Kind[] = run % 2 === 0 ? ['step', 'live'] : ['live', 'step']
      for (const kind of order) {
        const step = await measure(kind, rate)
        const list = results[kind].get(rate) ?? []
        list.push(step)
        results[kind].set(rate, list)
        log(
          `run ${run + 1} ${kind.padEnd(4)} ${rate} req/s: late ${late(step)}, achieved ${step.achievedRps}, ` +
            `p99 ${step.latencyMs.p99Ms} ms`,
        )
        await cooldown()
      }
    }
  }
} finally {
  await Promise.all([stepGenerator.close(), live.stop()])
  server.kill()
}

function lateFraction(step: StepResult): number {
  return step.requests === 0 ? 0 : step.generator.late / step.requests
}

function late(step: StepResult): string {
  return `${(lateFraction(step) * 100).toFixed(2)}%`
}

const cell = (kind: Kind, rate: number, pick: (s: StepResult) => number, format: (x: number) => string) =>
  format(median(results[kind].get(rate)!.map(pick)))
const pct = (x: number) => `${(x * 100).toFixed(2)}%`
const ms = (x: number) => x.toFixed(1)
const rps = (x: number) => Math.round(x).toLocaleString('en-US')
const kept = (kind: Kind) => {
  const ok = rates.filter((rate) => median(results[kind].get(rate)!.map(lateFraction)) <= GENERATOR_LATE_LIMIT)
  return ok.length === 0 ? 'none' : `${rps(Math.max(...ok))} req/s`
}

const table = markdownTable(
  [
    'offered (req/s)',
    'step: late sends',
    'live: late sends',
    'step: achieved',
    'live: achieved',
    'step: p99 ms',
    'live: p99 ms',
  ],
  rates.map((rate) => [
    rps(rate),
    cell('step', rate, lateFraction, pct),
    cell('live', rate, lateFraction, pct),
    cell('step', rate, (s) => s.achievedRps, rps),
    cell('live', rate, (s) => s.achievedRps, rps),
    cell('step', rate, (s) => s.latencyMs.p99Ms, ms),
    cell('live', rate, (s) => s.latencyMs.p99Ms, ms),
  ]),
)
const summary =
  `Highest rate sent on schedule (under 1% of sends over 10 ms late, medians of ${runs} run${runs === 1 ? '' : 's'}): ` +
  `fixed-rate steps ${kept('step')}, live load ${kept('live')}.`
process.stdout.write(`${table}\n\n${summary}\n`)
await writeBenchmarkSection({
  body: `The live load behind \`bench --ui\` (one worker thread whose rate and target change while it runs) against the
fixed-rate steps of \`bench\`, at the same rates and step settings (${warmupMs / 1000} s warm-up, ${durationMs / 1000} s
measured, 64 connections), against \`bench/peers/trivial-server.mjs\` (node:http doing no work, its own process), so
each generator's own cost is what is measured; medians of ${runs} run${runs === 1 ? '' : 's'}, the order of the two
alternating between runs.${quick ? ' A `--quick` smoke run.' : ''}

${table}

${summary}`,
  command: `npm run bench:live${quick ? ' -- --quick' : ''}`,
  id: 'bench-live',
  title: 'bench --ui: the live load against the fixed-rate generator (issue 15)',
})
