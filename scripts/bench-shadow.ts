/**
 * What a shadow costs the answers (issue 12), written to BENCHMARKS.md "Shadow traffic":
 *
 *   npm run build && npm run bench:shadow [-- --quick] [--rounds N] [--duration S]
 *
 * Three servers of examples/digits-mlp, each `mlship serve --local` in a child process: the model alone, the model in
 * an experiment that sends it all the traffic, and the same experiment with a shadow of the same cost (a copy of the
 * same model directory). The knee of the model alone is found first (`mlship bench --url`, the p99 SLO of 100 ms); then
 * the servers get the same fixed-rate steps at half the knee and at the knee, one right after the other (the order
 * turns every round), and the primary's p99 with the shadow is compared with the same experiment's without it: the
 * ratio of each pair, the median over the rounds (--quick: 3 rounds of 4 s; else 6 of 10 s, about 8 minutes). The
 * issue's bound: a shadow adds at most 10% to the primary's p99. The share of the traffic the shadow saw at each rate
 * is read from its /metrics (copies completed, shed, failed) around its steps.
 */
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {promisify} from 'node:util'

import {markdownTable, median, writeBenchmarkSection} from './lib/benchmarks-md.js'
import {log, scriptArgs} from './lib/script-args.js'

const root = path.resolve(import.meta.dirname, '..')
const cli = path.join(root, 'bin', 'run.js')
const {number, quick} = scriptArgs()
const rounds = number('--rounds', 3, 6)
const duration = number('--duration', 4, 10)

interface Server {
  url: string
  child: ChildProcess
}

/** `mlship serve DIR --local --port 0 --json`: its first JSON line says where it listens. */
async function serve(dir: string): Promise<Server> {
  const child = spawn(process.execPath, [cli, 'serve', dir, '--local', '--port', '0', '--json'], {
    // The servers' request log would drown the script's own lines.
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const lines = createInterface({input: child.stdout})
  for await (const line of lines) {
    const event = JSON.parse(line) as {event?: string; url?: string; error?: {message: string}}
    if (event.event === 'ready' && event.url) return {child, url: event.url}
    if (event.error) throw new Error(`serve ${dir}: ${event.error.message}`)
  }
  throw new Error(`serve ${dir} exited before it was ready (run \`mlship serve ${dir} --local\` to see why)`)
}

async function stop(server: Server): Promise<void> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve))
  server.child.kill('SIGTERM')
  await exited
}

interface BenchJson {
  runs: Array<{
    knee: {rps: number | null} | null
    steps: Array<{offeredRps: number; achievedRps: number; latencyMs: {p50Ms: number; p99Ms: number}}>
  }>
}

async function bench(dir: string, url: string, extra: string[], seconds = duration): Promise<BenchJson> {
  const {stdout} = await promisify(execFile)(
    process.execPath,
    [cli, 'bench', dir, '--url', url, '--json', '--duration', String(seconds), ...extra],
    {maxBuffer: 64 * 1024 * 1024},
  )
  return JSON.parse(stdout) as BenchJson
}

/** The shadow's copies by outcome (completed, shed, failed), from the server's /metrics. */
async function shadowCopies(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const copies: Record<string, number> = {}
  for (const match of text.matchAll(/^mlship_shadow_requests_total\{[^}]*outcome="(\w+)"[^}]*\} (\S+)$/gm))
    copies[match[1]!] = (copies[match[1]!] ?? 0) + Number(match[2])
  return copies
}

const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-shadow-'))
const servers: Server[] = []
try {
  const digits = path.join(root, 'examples', 'digits-mlp')
  const plain = path.join(work, 'plain')
  const control = path.join(work, 'control')
  const primary = path.join(work, 'primary')
  const shadow = path.join(work, 'shadow')
  for (const dir of [plain, control, primary, shadow]) await cp(digits, dir, {recursive: true})
  const yaml = await readFile(path.join(digits, 'model.yaml'), 'utf8')
  const experiment = (variants: string) =>
    `${yaml.trimEnd()}\nexperiment:\n  name: shadow-cost\n  variants:\n    - {name: control, model: ., weight: 100}\n${variants}`
  // The same experiment without its shadow: the comparison the bound is about (the router's own cost is in both). An
  // experiment has two variants at least: the second is this model again at weight 0 (the same workers, no traffic).
  await writeFile(path.join(control, 'model.yaml'), experiment('    - {name: unused, model: ., weight: 0}\n'))
  await writeFile(
    path.join(primary, 'model.yaml'),
    experiment('    - {name: shadow, model: ../shadow, shadow: true}\n'),
  )

  log('finding the knee of the model alone...')
  const alone = await serve(plain)
  servers.push(alone)
  const sweep = await bench(plain, alone.url, ['--max-duration', quick ? '40' : '120'])
  const knee = sweep.runs[0]?.knee?.rps
  if (!knee) throw new Error('no knee: the model alone did not meet the SLO at the first rate')
  log(`knee: ${knee} req/s`)
  const arms = {
    alone: {dir: plain, server: alone},
    experiment: {dir: control, server: await serve(control)},
    shadow: {dir: primary, server: await serve(primary)},
  }
  servers.push(arms.experiment.server, arms.shadow.server)
  type Arm = keyof typeof arms
  const names = Object.keys(arms) as Arm[]

  const rates = [Math.max(1, Math.round(knee / 2)), knee]
  // A short step on each server first: the first seconds after start-up (JIT, first batches) are not its steady state.
  for (const arm of Object.values(arms)) await bench(arm.dir, arm.server.url, ['--rate', String(rates[0])], 2)

  const p99: Record<string, number[]> = {}
  const achieved: Record<string, number[]> = {}
  /** Per round and rate: p99 with the shadow / p99 of the same experiment without it, and experiment / alone. */
  const shadowRatios: Record<number, number[]> = {}
  const experimentRatios: Record<number, number[]> = {}
  /** The shadow's copies made and offered during the steps at each rate. */
  const seen: Record<number, {completed: number; offered: number}> = {}
  for (let round = 0; round < rounds; round++) {
    for (const rate of rates) {
      // The order turns every round: each server goes first, second and third equally often.
      const order = names.map((_, index) => names[(index + round) % names.length]!)
      const p99s: Partial<Record<Arm, number>> = {}
      for (const which of order) {
        const {dir, server} = arms[which]
        const before = which === 'shadow' ? await shadowCopies(server.url) : undefined
        const step = (await bench(dir, server.url, ['--rate', String(rate)])).runs[0]!.steps[0]!
        if (before) {
          const after = await shadowCopies(server.url)
          const count = (copies: Record<string, number>, outcome: string) => copies[outcome] ?? 0
          const entry = (seen[rate] ??= {completed: 0, offered: 0})
          entry.completed += count(after, 'completed') - count(before, 'completed')
          for (const outcome of ['completed', 'shed', 'failed'])
            entry.offered += count(after, outcome) - count(before, outcome)
        }
        p99s[which] = step.latencyMs.p99Ms
        ;(p99[`${rate}:${which}`] ??= []).push(step.latencyMs.p99Ms)
        ;(achieved[`${rate}:${which}`] ??= []).push(step.achievedRps)
        log(`round ${round + 1}, ${rate} req/s, ${which}: p99 ${step.latencyMs.p99Ms} ms`)
      }
      ;(shadowRatios[rate] ??= []).push(p99s.shadow! / p99s.experiment!)
      ;(experimentRatios[rate] ??= []).push(p99s.experiment! / p99s.alone!)
    }
  }
  const percent = (part: number, whole: number) => (whole === 0 ? 'none' : `${((100 * part) / whole).toFixed(0)}%`)
  const signed = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(0)}%`

  const fmt = (value: number) => value.toFixed(1)
  const rows = rates.map((rate, index) => {
    const ratio = median(shadowRatios[rate]!)
    return [
      `${index === 0 ? 'half the knee' : 'the knee'}: ${rate} req/s`,
      fmt(median(p99[`${rate}:alone`]!)),
      fmt(median(p99[`${rate}:experiment`]!)),
      fmt(median(p99[`${rate}:shadow`]!)),
      signed(ratio),
      shadowRatios[rate]!.map(signed).join(', '),
      signed(median(experimentRatios[rate]!)),
      names.map((name) => fmt(median(achieved[`${rate}:${name}`]!))).join(' / '),
      percent(seen[rate]?.completed ?? 0, seen[rate]?.offered ?? 0),
      ratio <= 1.1 ? 'yes' : 'no',
    ]
  })
  const body = [
    'examples/digits-mlp served three times on this machine: alone; in an experiment where it answers everything (its',
    'other variant, the same model at weight 0, gets nothing); and in the same experiment with a shadow of the same',
    'cost instead (the same model, its own workers at nice 19).',
    `Knee of the model alone: ${knee} req/s (p99 SLO 100 ms). Fixed-rate steps of ${duration} s, ${rounds} round(s);`,
    'in each round the three servers get the same rate one right after the other (the order turns every round). The',
    "shadow's p99 change is the ratio, round by round, of the server with the shadow to the same experiment without",
    "it; medians over the rounds, each round listed. The experiment's own cost (its router) is the next column.",
    '',
    markdownTable(
      [
        'offered rate',
        'p99 alone (ms)',
        'p99 experiment (ms)',
        'p99 with a shadow (ms)',
        "shadow's p99 change (median)",
        'per round',
        "experiment's own p99 change",
        'achieved alone / experiment / shadow',
        'traffic the shadow saw',
        'within +10%',
      ],
      rows,
    ),
    '',
    "The shadow's rule (README, A/B tests): a copy only while the answering variant is idle, at most one in flight per",
    "core its workers leave free, and only while the shadow's CPU budget lasts (a quarter of the CPU time nobody used, the",
    "machine's and this process's; none while the event loop runs more than 10 ms late; one copy a second whatever the",
    "load). Copies go straight to the shadow's workers: no batcher, drift or prediction log on the HTTP thread. The",
    'bound the issue sets: at most +10% on the p99.',
  ].join('\n')
  await writeBenchmarkSection({
    body,
    command: `npm run bench:shadow${quick ? ' -- --quick' : ''}`,
    id: 'shadow',
    title: 'Shadow traffic',
  })
} finally {
  for (const server of servers) await stop(server).catch(() => undefined)
  await rm(work, {force: true, recursive: true})
}
