/**
 * CLI start-up benchmark (`npm run bench:startup`): how long the built CLI (bin/run.js, what `mlship` runs once
 * installed) takes to answer `--version`, `--help`, `validate`, `predict` (in this process) and `build --print` on the
 * iris example, each against a bare `node -e 0` run just before or after it (the order alternates), so both see the
 * same machine. Medians of the wall times and of the per-pair ratios; CPU time (user + system, from /proc, 10 ms
 * ticks) beside them, which a busy machine disturbs less.
 *
 *   npm run bench:startup -- [--runs N] [--quick] [--no-write] [--json]
 *
 * Builds dist/ first when it is older than the sources (npm run build). Writes the BENCHMARKS.md section "CLI start-up
 * time" (scripts/lib/benchmarks-md.ts) unless --quick (3 runs, a smoke test) or --no-write. Goals (issue 22):
 * `--version` and `--help` within 3x of `node -e 0`, `validate` and `build --print` within 5x.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {markdownTable, median, writeBenchmarkSection} from './lib/benchmarks-md.js'

const {values} = parseArgs({
  options: {
    json: {type: 'boolean'},
    'no-write': {type: 'boolean'},
    quick: {type: 'boolean'},
    runs: {type: 'string'},
  },
})

const root = path.resolve(import.meta.dirname, '..')
const bin = path.join(root, 'bin', 'run.js')
const runs = Number(values.runs ?? (values.quick ? 3 : 15))
const log = (line: string) => process.stderr.write(`${line}\n`)

interface Case {
  /** As the user types it (after `mlship`). */
  args: string[]
  /** The most times `node -e 0` it should take; undefined where issue 22 sets none. */
  goal?: number
}

const CASES: Case[] = [
  {args: ['--version'], goal: 3},
  {args: ['--help'], goal: 3},
  {args: ['validate', 'examples/iris'], goal: 5},
  {args: ['build', 'examples/iris', '--print'], goal: 5},
  {args: ['predict', 'examples/iris', '--example']},
]

interface Sample {
  wallMs: number
  /** undefined where /proc is missing (not Linux). */
  cpuMs?: number
}

/** CPU time of this process's finished children so far (user + system), in ms; undefined off Linux. */
function childrenCpuMs(): number | undefined {
  try {
    // Fields after the command name (which may hold spaces): cutime and cstime are the 14th and 15th of those.
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100
  } catch {
    return undefined
  }
}

/** One run of `node ...args` with the user's environment (no NODE_ENV, which would make oclif look for sources). */
function run(args: string[]): Sample {
  const env = {...process.env}
  delete env.NODE_ENV
  const cpuBefore = childrenCpuMs()
  const start = process.hrtime.bigint()
  const child = spawnSync(process.execPath, args, {cwd: root, encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe']})
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6
  const cpuAfter = childrenCpuMs()
  if (child.status !== 0) {
    throw new Error(`node ${args.join(' ')} exited with ${child.status}:\n${child.stderr}${child.stdout}`)
  }
  return {cpuMs: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore, wallMs}
}

/** dist/ is older than the sources (or missing): build it, as the user would have before running mlship. */
function ensureBuilt(): void {
  const manifest = path.join(root, 'dist', 'oclif.manifest.json')
  const builtAt = existsSync(manifest) ? statSync(manifest).mtimeMs : 0
  const sources = readdirSync(path.join(root, 'src'), {recursive: true})
    .map(String)
    .map((file) => path.join(root, 'src', file))
  const stale = [path.join(root, 'package.json'), ...sources].find((file) => statSync(file).mtimeMs > builtAt)
  if (stale === undefined) return
  log(`building dist/ (${path.relative(root, stale)} is newer than the build)...`)
  execFileSync('npm', ['run', 'build'], {cwd: root, stdio: ['ignore', 'ignore', 'inherit']})
}

ensureBuilt()
const baseline = ['-e', '0']
const pairs = new Map(CASES.map((c) => [c, [] as Array<{cli: Sample; node: Sample}>]))
// One untimed run of each first: the files are in the page cache for every timed run alike.
for (const c of CASES) run([bin, ...c.args])
run(baseline)
for (let round = 0; round < runs; round++) {
  for (const c of CASES) {
    const nodeFirst = round % 2 === 0
    const first = run(nodeFirst ? baseline : [bin, ...c.args])
    const second = run(nodeFirst ? [bin, ...c.args] : baseline)
    pairs.get(c)!.push(nodeFirst ? {cli: second, node: first} : {cli: first, node: second})
  }
  log(`round ${round + 1}/${runs}`)
}

const ms = (value: number) => value.toFixed(0)
const times = (value: number) => `${value.toFixed(1)}x`
const rows = CASES.map((c) => {
  const samples = pairs.get(c)!
  const cpu = samples.every((s) => s.cli.cpuMs !== undefined && s.node.cpuMs !== undefined)
  const wallRatio = median(samples.map((s) => s.cli.wallMs / s.node.wallMs))
  return {
    command: `mlship ${c.args.join(' ')}`,
    cpuMs: cpu ? median(samples.map((s) => s.cli.cpuMs!)) : undefined,
    goal: c.goal,
    met: c.goal === undefined ? undefined : wallRatio <= c.goal,
    nodeCpuMs: cpu ? median(samples.map((s) => s.node.cpuMs!)) : undefined,
    nodeWallMs: median(samples.map((s) => s.node.wallMs)),
    wallMs: median(samples.map((s) => s.cli.wallMs)),
    wallRatio,
  }
})

const table = markdownTable(
  ['command', 'wall (ms)', '`node -e 0` (ms)', 'ratio', 'goal', 'CPU (ms)', '`node -e 0` CPU (ms)'],
  rows.map((r) => [
    `\`${r.command}\``,
    ms(r.wallMs),
    ms(r.nodeWallMs),
    times(r.wallRatio),
    r.goal === undefined ? '-' : `<= ${r.goal}x ${r.met ? '(met)' : '(**not met**)'}`,
    r.cpuMs === undefined ? 'n/a' : ms(r.cpuMs),
    r.nodeCpuMs === undefined ? 'n/a' : ms(r.nodeCpuMs),
  ]),
)
log(`\n${table}`)
if (values.json) process.stdout.write(`${JSON.stringify({rows, runs}, null, 2)}\n`)

if (!values.quick && !values['no-write']) {
  await writeBenchmarkSection({
    body: [
      `Medians of ${runs} rounds; in each round every command runs once beside a \`node -e 0\` run (alternately ` +
        'before and after it), and the ratio is the median of those paired ratios. CPU is user + system time of ' +
        'the process (10 ms ticks), which load from other processes disturbs less than wall time.',
      '',
      table,
    ].join('\n'),
    command: 'npm run bench:startup',
    id: 'startup',
    title: 'CLI start-up time',
  })
}
