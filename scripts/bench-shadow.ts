/**
 * What a shadow costs the answers (issue 12), written to BENCHMARKS.md "Shadow traffic":
 *
 *   npm run build && npm run bench:shadow [-- --quick] [--rounds N] [--duration S]
 *
 * Two servers of examples/digits-mlp, each `mlship serve --local` in a child process: the model alone, and the model
 * with an experiment whose only other variant is a shadow of the same cost (a copy of the same model directory). The
 * knee of the model alone is found first (`mlship bench --url`, the p99 SLO of 100 ms); then both servers get the same
 * fixed-rate steps at half the knee and at the knee, in turns (the order alternates per round), and the primary's p99
 * is compared. The bound: a shadow adds at most 10% to the primary's p99. Medians of the rounds; the shadow's
 * copies completed and shed are read from its /metrics.
 */
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {promisify} from 'node:util'

import {markdownTable, median, writeBenchmarkSection} from './lib/benchmarks-md.js'

const root = path.resolve(import.meta.dirname, '..')
const cli = path.join(root, 'bin', 'run.js')
const args = process.argv.slice(2)
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined)
const quick = args.includes('--quick')
const rounds = Number(flag('--rounds') ?? (quick ? 1 : 3))
const duration = Number(flag('--duration') ?? (quick ? 3 : 10))
const log = (line: string) => process.stderr.write(`${line}\n`)

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

async function bench(dir: string, url: string, extra: string[]): Promise<BenchJson> {
  const {stdout} = await promisify(execFile)(
    process.execPath,
    [cli, 'bench', dir, '--url', url, '--json', '--duration', String(duration), ...extra],
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
  const primary = path.join(work, 'primary')
  const shadow = path.join(work, 'shadow')
  for (const dir of [plain, primary, shadow]) await cp(digits, dir, {recursive: true})
  const yaml = await readFile(path.join(primary, 'model.yaml'), 'utf8')
  await writeFile(
    path.join(primary, 'model.yaml'),
    `${yaml.trimEnd()}\nexperiment:\n  name: shadow-cost\n  variants:\n` +
      '    - {name: control, model: ., weight: 100}\n    - {name: shadow, model: ../shadow, shadow: true}\n',
  )

  log('finding the knee of the model alone...')
  const alone = await serve(plain)
  servers.push(alone)
  const sweep = await bench(plain, alone.url, ['--max-duration', quick ? '40' : '120'])
  const knee = sweep.runs[0]?.knee?.rps
  if (!knee) throw new Error('no knee: the model alone did not meet the SLO at the first rate')
  log(`knee: ${knee} req/s`)
  const withShadow = await serve(primary)
  servers.push(withShadow)

  const rates = [Math.max(1, Math.round(knee / 2)), knee]
  const p99: Record<string, number[]> = {}
  const achieved: Record<string, number[]> = {}
  for (let round = 0; round < rounds; round++) {
    for (const rate of rates) {
      const order = round % 2 === 0 ? ['alone', 'shadow'] : ['shadow', 'alone']
      for (const which of order) {
        const server = which === 'alone' ? alone : withShadow
        const result = await bench(which === 'alone' ? plain : primary, server.url, ['--rate', String(rate)])
        const step = result.runs[0]!.steps[0]!
        const key = `${rate}:${which}`
        ;(p99[key] ??= []).push(step.latencyMs.p99Ms)
        ;(achieved[key] ??= []).push(step.achievedRps)
        log(`round ${round + 1}, ${rate} req/s, ${which}: p99 ${step.latencyMs.p99Ms} ms`)
      }
    }
  }
  const copies = await shadowCopies(withShadow.url)
  const offered = (copies.completed ?? 0) + (copies.shed ?? 0) + (copies.failed ?? 0)
  const percent = (part: number, whole: number) => (whole === 0 ? 'none' : `${((100 * part) / whole).toFixed(0)}%`)

  const fmt = (value: number) => value.toFixed(1)
  const rows = rates.map((rate, index) => {
    const a = median(p99[`${rate}:alone`]!)
    const s = median(p99[`${rate}:shadow`]!)
    return [
      `${index === 0 ? 'half the knee' : 'the knee'}: ${rate} req/s`,
      fmt(a),
      fmt(s),
      `${s >= a ? '+' : ''}${(((s - a) / a) * 100).toFixed(0)}%`,
      fmt(median(achieved[`${rate}:shadow`]!)),
    ]
  })
  const body = [
    `examples/digits-mlp served twice on this machine: alone, and with an experiment whose other variant is a shadow`,
    `of the same cost (the same model, its own workers at nice 19). Knee of the model alone: ${knee} req/s (p99 SLO`,
    `100 ms). Fixed-rate steps of ${duration} s, ${rounds} round(s), the two servers in turns; medians.`,
    '',
    markdownTable(
      ['offered rate', 'p99 alone (ms)', 'p99 with a shadow (ms)', 'p99 change', 'achieved with shadow'],
      rows,
    ),
    '',
    `The shadow's copies over the whole run: ${copies.completed ?? 0} completed, ${copies.shed ?? 0} shed, ` +
      `${copies.failed ?? 0} failed (it saw ${percent(copies.completed ?? 0, offered)} of the traffic).`,
    'A copy is made only while the answering variant has no other request in flight, and at most one per core its',
    'workers leave free (at least one) is in flight: under load the shadow gives way first. The bound the issue',
    'sets: at most +10% on the p99.',
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
