/**
 * Serving-at-scale benchmarks (issue 4); each writes its own BENCHMARKS.md section (scripts/lib/benchmarks-md.ts):
 *
 *   npm run bench:batching      batching gain on examples/digits-mlp: the highest open-loop rate with p99 < 100 ms,
 *                               batching off vs on, and the outputs of both compared byte for byte
 *   npm run bench:overload      2x the saturation rate for 60 s: throughput kept, p99 of accepted requests, server
 *                               RSS sampled, time back to normal after the load drops
 *   npm run bench:metrics-cost  examples/iris at the same rate, /metrics on vs off, alternated: the server's CPU time
 *                               per request (the inverse of its CPU-bound throughput) and throughput
 *   npm run bench:auth-cost     examples/iris at the same rate, serving.auth on vs off, alternated: the server's CPU
 *                               time per request, as for /metrics (issue 21)
 *   npm run bench:scale         batching, overload and metrics-cost
 *
 * Flags: --quick (short steps, for a smoke run on a busy machine), --json FILE (write the results), --workers N,
 * --start RATE (first rate of the knee search, default 100/s; the overload probe starts at 4x it), --saturation RATE
 * (overload: skip the probe), --overload-batching (overload with batching on), --shared-cpus (overload: server and
 * generator on every CPU, see cpuSplit), --capacity (batching: also both servers far past their capacity).
 * The server runs in a child process (`src/serving/main.ts`, as in the image), the open-loop load generator of
 * src/bench in a worker thread of this one; everything stays on 127.0.0.1, every step is bounded in time.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {parse, stringify} from 'yaml'

import {LoadGenerator} from '../src/bench/generator.js'
import {DEFAULT_SLO, type StepResult} from '../src/bench/step-result.js'
import {readSample} from '../src/monitoring/test-support/exposition.js'
import {ApiKeySet} from '../src/serving/auth/keys.js'
import {markdownTable, median, writeBenchmarkSection} from './lib/benchmarks-md.js'

const root = path.resolve(import.meta.dirname, '..')
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined
const workersFlag = args.includes('--workers') ? Number(args[args.indexOf('--workers') + 1]) : undefined
const knownSaturation = args.includes('--saturation') ? Number(args[args.indexOf('--saturation') + 1]) : undefined
const startRate = args.includes('--start') ? Number(args[args.indexOf('--start') + 1]) : 100
const MODES = ['batching', 'overload', 'metrics-cost', 'auth-cost', 'all'] as const
type Mode = Exclude<(typeof MODES)[number], 'all'>
const which = args.find((a) => (MODES as readonly string[]).includes(a)) ?? 'all'

const STEP_S = quick ? 3 : 10
const WARMUP_S = 1
const log = (line: string) => process.stderr.write(`${line}\n`)

interface Server {
  url: string
  pid: number
  child: ChildProcess
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const {port} = probe.address() as {port: number}
      probe.close(() => resolve(port))
    })
  })
}

/** A copy of an example's model.yaml with settings changed (the model file stays where it is). */
async function variant(
  work: string,
  example: string,
  name: string,
  change: (config: Record<string, any>) => void,
): Promise<string> {
  const dir = path.join(work, name)
  const source = path.join(root, 'examples', example)
  const config = parse(await readFile(path.join(source, 'model.yaml'), 'utf8')) as Record<string, any>
  config.model.file = path.join(source, config.model.file)
  config.serving ??= {}
  if (workersFlag) config.serving.workers = workersFlag
  change(config)
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, {recursive: true}))
  await writeFile(path.join(dir, 'model.yaml'), stringify(config))
  return dir
}

interface CpuSplit {
  server: string
  generator: string
}

/**
 * Where the overload run puts the server and the load generator: apart, where the machine has two CPUs or more (the
 * server on the last, this process on the others), so that the generator, which at 2x sends twice as much, does not
 * take its CPU from the server it measures, as a client on another machine would not. BENCH_SERVER_CPUS and
 * BENCH_GENERATOR_CPUS (taskset lists) choose others; --shared-cpus keeps both on every CPU.
 */
function cpuSplit(): CpuSplit | undefined {
  const cpus = os.availableParallelism()
  if (args.includes('--shared-cpus') || cpus < 2) return undefined
  return {
    generator: process.env.BENCH_GENERATOR_CPUS ?? (cpus === 2 ? '0' : `0-${cpus - 2}`),
    server: process.env.BENCH_SERVER_CPUS ?? String(cpus - 1),
  }
}

/**
 * Pins every thread of this process (the load generator's worker included) to a taskset CPU list; returns the old
 * list.
 */
function pinThisProcess(cpus: string): string {
  const current = execFileSync('taskset', ['--cpu-list', '--pid', String(process.pid)], {encoding: 'utf8'})
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpus, String(process.pid)], {stdio: 'ignore'})
  return current.trim().split(': ').at(-1)!
}

async function startChild(dir: string, cpus?: string, env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const port = await freePort()
  const command = [process.execPath, '--import', 'tsx', path.join(root, 'src/serving/main.ts')]
  const [file, ...argv] = cpus ? ['taskset', '--cpu-list', cpus, ...command] : command
  const child = spawn(file!, argv, {
    cwd: root,
    env: {...process.env, ...env, HOST: '127.0.0.1', LOG_LEVEL: 'info', MLSHIP_MODEL_DIR: dir, PORT: String(port)},
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server for ${dir} exited with code ${child.exitCode}`)
    try {
      if ((await fetch(`${url}/ready`)).status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the server for ${dir} was not ready within 60 s`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return {
    child,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    },
    url,
  }
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024
}

function digitsBodies(): Promise<string[]> {
  return readFile(path.join(root, 'examples/digits-mlp/test.csv'), 'utf8').then((text) =>
    text
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => JSON.stringify({features: [line.split(',').slice(0, 64).map(Number)]})),
  )
}

const irisBodies = () =>
  [
    [5.1, 3.5, 1.4, 0.2],
    [6.7, 3.0, 5.2, 2.3],
    [5.9, 3.0, 4.2, 1.5],
  ].map((row) => JSON.stringify({features: [row]}))

async function step(
  generator: LoadGenerator,
  url: string,
  bodies: string[],
  rate: number,
  seconds = STEP_S,
  onProgress?: (p: {elapsedMs: number; p99Ms: number; throughputRps: number; phase: string}) => void,
  headers: Record<string, string> = {},
): Promise<StepResult> {
  return generator.step(
    {
      arrival: 'poisson',
      bodies,
      connections: 1024,
      durationMs: seconds * 1000,
      headers: {...headers, 'content-type': 'application/json'},
      lateThresholdMs: 5,
      method: 'POST',
      progressIntervalMs: onProgress ? 500 : 0,
      rate,
      timeoutMs: 10_000,
      url: `${url}/predict`,
      warmupMs: WARMUP_S * 1000,
    },
    DEFAULT_SLO,
    onProgress,
  )
}

const fmt = (s: StepResult) =>
  `offered ${s.offeredRps}/s  achieved ${s.achievedRps}/s  p50 ${s.latencyMs.p50Ms} ms  p99 ${s.latencyMs.p99Ms} ms  ` +
  `errors ${s.errors.total}${s.generator.limited ? `  (generator limited: send lag p99 ${s.generator.sendLagP99Ms} ms)` : ''}  ${s.verdict}`

/**
 * The highest offered rate that meets the SLO (p99 < 100 ms, < 0.1% errors, >= 95% achieved): x1.5 steps, then
 * halving. A degraded step is run once more before the search stops there: on a shared machine a single step is
 * sometimes ruined by a pause of the generator or the VM, not by the server (both servers get the same second chance).
 */
async function saturation(
  generator: LoadGenerator,
  url: string,
  bodies: string[],
  label: string,
  start = startRate,
): Promise<StepResult> {
  const attempt = async (rate: number): Promise<StepResult> => {
    const first = await step(generator, url, bodies, rate)
    log(`  ${label}: ${fmt(first)}`)
    if (first.verdict === 'ok') return first
    const second = await step(generator, url, bodies, rate)
    log(`  ${label} (again): ${fmt(second)}`)
    return second
  }
  let best: StepResult | undefined
  let failed: number | undefined
  let rate = start
  for (let i = 0; i < 12 && failed === undefined; i++) {
    const result = await attempt(rate)
    if (result.verdict === 'ok') {
      best = result
      rate = Math.round(rate * 1.5)
    } else failed = rate
  }
  if (!best) {
    log(`  ${label}: even ${start}/s misses the SLO (a busy machine? try --start with a lower rate)`)
    return step(generator, url, bodies, Math.max(10, Math.round(start / 4)))
  }
  for (let i = 0; i < (quick ? 1 : 3) && failed !== undefined; i++) {
    const mid = Math.round((best.offeredRps + failed) / 2)
    if (mid - best.offeredRps < best.offeredRps * 0.03) break
    const result = await attempt(mid)
    if (result.verdict === 'ok') best = result
    else failed = mid
  }
  return best
}

async function identicalOutputs(
  a: string,
  b: string,
  bodies: string[],
): Promise<{requests: number; identical: boolean}> {
  // 64 at a time (under serving.max_queue), concurrently, so the batching server really merges them.
  const send = async (url: string) => {
    const out: string[] = []
    for (let i = 0; i < bodies.length; i += 64) {
      const chunk = bodies.slice(i, i + 64)
      const once = (body: string) =>
        fetch(`${url}/predict`, {body, headers: {'content-type': 'application/json'}, method: 'POST'})
      const withRetry = async (body: string) => {
        // A burst may be refused (503, serving.max_queue_delay_ms): retry it, the comparison is about the answers.
        for (let attempt = 0; attempt < 50; attempt++) {
          const response = await once(body)
          if (response.status !== 503) return response.json()
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        return {error: 'refused 50 times'}
      }
      const responses = await Promise.all(chunk.map(withRetry))
      out.push(...responses.map((r: any) => JSON.stringify(r.predictions ?? r)))
    }
    return out
  }
  const [x, y] = await Promise.all([send(a), send(b)])
  return {identical: x.every((r, i) => r === y[i] && !r.includes('error')), requests: bodies.length}
}

async function batchingBench(work: string, generator: LoadGenerator) {
  log('batching gain, examples/digits-mlp')
  const bodies = await digitsBodies()
  // Batching alone: no admission by expected wait, which would refuse the unbatched server's bursts first.
  const off = await startChild(
    await variant(work, 'digits-mlp', 'batching-off', (c) => {
      c.serving.batching = {enabled: false}
      delete c.serving.max_queue_delay_ms
    }),
  )
  const on = await startChild(
    await variant(work, 'digits-mlp', 'batching-on', (c) => {
      c.serving.batching = {enabled: true, max_batch_size: 32, max_delay_ms: 5}
      delete c.serving.max_queue_delay_ms
    }),
  )
  try {
    // The knee: the highest rate with p99 < 100 ms, batching off, then on.
    const unbatched = await saturation(generator, off.url, bodies, 'batching off')
    const batched = await saturation(generator, on.url, bodies, 'batching on', unbatched.offeredRps)
    // Capacity (--capacity): both servers offered more than either takes (the bounded queue sheds the rest); the 2xx
    // rate is what each sustains. Opt-in: at 1.5x the batched knee the unbatched server is offered four times what it
    // takes, and with the generator on the same CPUs that measures the generator and the refusals, not the model.
    const capacity: Record<'off' | 'on', number[]> = {off: [], on: []}
    const overRate = Number(process.env.BENCH_CAPACITY_RATE ?? Math.round(batched.offeredRps * 1.5))
    for (let round = 0; round < (args.includes('--capacity') ? (quick ? 1 : 2) : 0); round++) {
      for (const [name, server] of [
        ['off', off],
        ['on', on],
      ] as const) {
        const result = await step(generator, server.url, bodies, overRate)
        capacity[name].push(result.achievedRps)
        log(`  capacity, batching ${name}: ${fmt(result)}  accepted p99 ${result.okLatencyMs?.p99Ms} ms`)
      }
    }
    const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length)
    const metrics = await (await fetch(`${on.url}/metrics`)).text()
    const batches = readSample(metrics, 'mlship_inference_batch_size_count') ?? 0
    const rows = readSample(metrics, 'mlship_inference_batch_size_sum') ?? 0
    const outputs = await identicalOutputs(off.url, on.url, bodies)
    const result = {
      ...(capacity.on.length > 0
        ? {
            capacity: {
              batchingOff: mean(capacity.off),
              batchingOn: mean(capacity.on),
              gain: Math.round((mean(capacity.on) / mean(capacity.off)) * 100) / 100,
              offeredRps: overRate,
            },
          }
        : {}),
      knee: {
        batched: summary(batched),
        gain: Math.round((batched.achievedRps / unbatched.achievedRps) * 100) / 100,
        unbatched: summary(unbatched),
      },
      meanRowsPerBatch: Math.round((rows / Math.max(1, batches)) * 10) / 10,
      outputs,
    }
    log(
      `  ${result.capacity ? `capacity ${result.capacity.batchingOff}/s -> ${result.capacity.batchingOn}/s (${result.capacity.gain}x); ` : ''}` +
        `knee ${unbatched.achievedRps}/s -> ${batched.achievedRps}/s: gain ${result.knee.gain}x; ` +
        `${result.meanRowsPerBatch} rows per batch on average; outputs identical: ${outputs.identical} (${outputs.requests} requests)`,
    )
    return {...result, saturationRps: batched.offeredRps}
  } finally {
    await Promise.all([off.stop(), on.stop()])
  }
}

async function overloadBench(work: string, generator: LoadGenerator, knownSaturation?: number) {
  // By default the model is the bottleneck (batching off), as in most deployments: with batching on, the digits
  // example's capacity on 2 cores is near what the event loop can parse, and twice it is more than the load generator
  // on the same machine can send. --overload-batching measures that case anyway.
  const batching = args.includes('--overload-batching')
  log(`overload, examples/digits-mlp (batching ${batching ? 'on' : 'off'}, serving.max_queue 256)`)
  const bodies = await digitsBodies()
  const split = cpuSplit()
  let cpusBefore: string | undefined
  if (split) {
    log(`  server on CPU ${split.server}, load generator on CPU ${split.generator} (--shared-cpus: both on all)`)
    cpusBefore = pinThisProcess(split.generator)
  }
  const server = await startChild(
    await variant(work, 'digits-mlp', 'overload', (c) => (c.serving.batching = {enabled: batching})),
    split?.server,
  )
  const rss: Array<{t: number; bytes: number}> = []
  const t0 = Date.now()
  const sampler = setInterval(() => {
    rssBytes(server.pid).then(
      (bytes) => rss.push({bytes, t: Date.now() - t0}),
      () => {},
    )
  }, 500)
  try {
    // Saturation: the highest rate of answered (2xx) requests the server sustains. Warmed up first (a cold server's
    // first seconds, JIT and allocator warm-up, understate it), then offered rising rates (x1.25, 5 s each) until it
    // answers under 90% of what it is offered; S is the best 2xx rate seen, past the point where the queue sheds.
    let saturationRps = knownSaturation
    if (saturationRps === undefined) {
      await step(generator, server.url, bodies, Math.round(startRate * 2), quick ? 2 : 5)
      let rate = Number(process.env.BENCH_PROBE_RATE ?? startRate * 4)
      let best = 0
      for (let i = 0; i < 12; i++) {
        const probe = await step(generator, server.url, bodies, rate, quick ? 3 : 5)
        log(`  saturation probe: ${fmt(probe)}`)
        best = Math.max(best, probe.achievedRps)
        if (probe.achievedRps < 0.9 * probe.offeredRps) break
        rate = Math.round(rate * 1.25)
      }
      saturationRps = Math.round(best)
    }
    const atSaturation = await step(generator, server.url, bodies, saturationRps, quick ? 5 : 20)
    log(`  at saturation: ${fmt(atSaturation)}  accepted p99 ${atSaturation.okLatencyMs?.p99Ms} ms`)
    const rssBefore = rss.at(-1)?.bytes ?? 0
    const overloadS = quick ? 10 : 60
    const overloadStart = Date.now()
    const over = await step(generator, server.url, bodies, saturationRps * 2, overloadS)
    const overloadEnd = overloadStart + (WARMUP_S + overloadS) * 1000
    log(
      `  at 2x: ${fmt(over)}  accepted p99 ${over.okLatencyMs?.p99Ms} ms  refused ${JSON.stringify(over.errors.byStatus)}, ` +
        `answered in p50 ${over.shedLatencyMs?.p50Ms} / p99 ${over.shedLatencyMs?.p99Ms} ms`,
    )
    const rssDuring = Math.max(...rss.filter((s) => s.t >= overloadStart - t0).map((s) => s.bytes))
    // Back to normal: the first half-second interval after the drop whose p99 is within the saturation p99.
    const intervals: Array<{atMs: number; p99Ms: number; throughputRps: number}> = []
    const afterStart = Date.now()
    const after = await step(generator, server.url, bodies, Math.round(saturationRps / 2), quick ? 5 : 10, (p) =>
      intervals.push({atMs: afterStart - overloadEnd + p.elapsedMs, p99Ms: p.p99Ms, throughputRps: p.throughputRps}),
    )
    const normalP99 = Math.max(atSaturation.okLatencyMs?.p99Ms ?? 0, 10)
    const recovered = intervals.find((i) => i.p99Ms > 0 && i.p99Ms <= normalP99)
    const alive = (await fetch(`${server.url}/health`)).status === 200 && server.child.exitCode === null
    const result = {
      after: summary(after),
      alive,
      atSaturation: summary(atSaturation),
      backToNormalMs: recovered ? Math.round(recovered.atMs) : null,
      overload: summary(over),
      rssMiB: {atSaturation: mib(rssBefore), maxDuringOverload: mib(rssDuring), end: mib(rss.at(-1)?.bytes ?? 0)},
      saturationRps,
      throughputKept: Math.round((over.achievedRps / atSaturation.achievedRps) * 1000) / 1000,
      throughputKeptOfProbe: Math.round((over.achievedRps / saturationRps) * 1000) / 1000,
      acceptedP99Ratio:
        Math.round(((over.okLatencyMs?.p99Ms ?? 0) / Math.max(atSaturation.okLatencyMs?.p99Ms ?? 1, 0.001)) * 100) /
        100,
    }
    log(
      `  kept ${(result.throughputKept * 100).toFixed(1)}% of saturation throughput (${(result.throughputKeptOfProbe * 100).toFixed(1)}% of the probe's S), ` +
        `accepted p99 x${result.acceptedP99Ratio}, ` +
        `RSS ${result.rssMiB.atSaturation} -> max ${result.rssMiB.maxDuringOverload} -> ${result.rssMiB.end} MiB, ` +
        `back to normal ${result.backToNormalMs} ms after the drop, alive: ${alive}`,
    )
    return result
  } finally {
    clearInterval(sampler)
    await server.stop()
    if (cpusBefore) pinThisProcess(cpusBefore)
  }
}

async function cpuSeconds(pid: number): Promise<number> {
  // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

interface CostRun {
  achievedRps: number
  cpuMsPerRequest: number
}

/**
 * What a feature costs: two servers, with it and without, at the same rate below the knee, where both keep up: the
 * server's CPU time per request is the cost, and on a server bound by its CPU, throughput is its inverse. Alternated,
 * so that drift in the machine hits both alike.
 */
async function cpuCost(
  generator: LoadGenerator,
  servers: {on: Server; off: Server},
  options: {feature: string; rate: number; headers?: Record<string, string>},
) {
  const bodies = irisBodies()
  // A step each, not counted: the first requests of a server pay for its JIT and its connections.
  for (const server of [servers.on, servers.off]) {
    await step(generator, server.url, bodies, options.rate, quick ? 1 : 3, undefined, options.headers)
  }
  const runs: Record<'on' | 'off', CostRun[]> = {off: [], on: []}
  for (let round = 0; round < (quick ? 2 : 4); round++) {
    // Each goes first in every other round: neither always follows the other's load.
    for (const name of round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      const server = servers[name]
      const before = await cpuSeconds(server.pid)
      const result = await step(generator, server.url, bodies, options.rate, STEP_S, undefined, options.headers)
      const cpu = (await cpuSeconds(server.pid)) - before
      const served = result.achievedRps * (STEP_S + WARMUP_S)
      runs[name].push({
        achievedRps: result.achievedRps,
        cpuMsPerRequest: Math.round(((cpu * 1000) / served) * 1000) / 1000,
      })
      log(
        `  ${options.feature} ${name}: ${fmt(result)}  server CPU ${runs[name].at(-1)!.cpuMsPerRequest} ms per request`,
      )
    }
  }
  // Medians: on a shared machine one step now and then is ruined by a neighbour, not by the server.
  const cpuOn = median(runs.on.map((r) => r.cpuMsPerRequest))
  const cpuOff = median(runs.off.map((r) => r.cpuMsPerRequest))
  const result = {
    costPercent: Math.round((cpuOn / cpuOff - 1) * 1000) / 10,
    cpuMsPerRequest: {off: Math.round(cpuOff * 1000) / 1000, on: Math.round(cpuOn * 1000) / 1000},
    offeredRps: options.rate,
    runs,
    // Every CPU of the machine busy with the server: what it would answer, at most.
    throughputIfCpuBound: {
      off: Math.round((os.availableParallelism() * 1000) / cpuOff),
      on: Math.round((os.availableParallelism() * 1000) / cpuOn),
    },
  }
  log(
    `  server CPU per request: ${result.cpuMsPerRequest.on} ms with ${options.feature}, ${result.cpuMsPerRequest.off} ms without: ${result.costPercent}% cost`,
  )
  return result
}

async function metricsCostBench(work: string, generator: LoadGenerator) {
  log('/metrics cost, examples/iris: server CPU per request and throughput, metrics on vs off, at the same rate')
  const on = await startChild(await variant(work, 'iris', 'metrics-on', (c) => (c.monitoring = {metrics: true})))
  const off = await startChild(await variant(work, 'iris', 'metrics-off', (c) => (c.monitoring = {metrics: false})))
  try {
    const rate = Number(process.env.BENCH_METRICS_RATE ?? 2000)
    return await cpuCost(generator, {off, on}, {feature: 'metrics', rate})
  } finally {
    await Promise.all([on.stop(), off.stop()])
  }
}

/**
 * serving.auth's cost on /predict: one server with keys on (three keys loaded, as during a rotation, so the check
 * compares against each), one without; both get the same Authorization header, so the requests are the same bytes.
 */
async function authCostBench(work: string, generator: LoadGenerator) {
  log('serving.auth cost, examples/iris: server CPU per request and throughput, keys on vs off, at the same rate')
  const keys = Array.from({length: 3}, () => randomBytes(32).toString('hex'))
  const on = await startChild(
    await variant(work, 'iris', 'auth-on', (c) => (c.serving.auth = {enabled: true})),
    undefined,
    {MLSHIP_API_KEYS: keys.join(',')},
  )
  const off = await startChild(await variant(work, 'iris', 'auth-off', (c) => (c.serving.auth = {enabled: false})))
  try {
    const rate = Number(process.env.BENCH_AUTH_RATE ?? 2000)
    const cost = await cpuCost(
      generator,
      {off, on},
      {feature: 'auth', headers: {authorization: `Bearer ${keys[1]}`}, rate},
    )
    return {...cost, checkMicroseconds: keyCheckMicroseconds(keys)}
  } finally {
    await Promise.all([on.stop(), off.stop()])
  }
}

/**
 * The key check alone (what the onRequest hook adds: a SHA-256 of the presented key and a timingSafeEqual against each
 * loaded key), timed in this process: a figure the machine's noise barely touches, beside the server's CPU per request.
 */
function keyCheckMicroseconds(keys: string[]): number {
  const set = new ApiKeySet(keys)
  const checks = quick ? 50_000 : 200_000
  let matched = 0
  const times: number[] = []
  for (let round = 0; round < 5; round++) {
    const started = performance.now()
    for (let i = 0; i < checks; i++) if (set.match(keys[i % keys.length]!)) matched++
    times.push(((performance.now() - started) * 1000) / checks)
  }
  if (matched !== checks * 5) throw new Error('the key check refused a loaded key')
  return Math.round(median(times) * 100) / 100
}

/** The command that reproduces a section: the npm script of that benchmark, with the flags this run was given. */
function commandOf(name: Mode): string {
  const flags = args.filter((a) => !(MODES as readonly string[]).includes(a))
  return `npm run bench:${name}${flags.length > 0 ? ` -- ${flags.join(' ')}` : ''}`
}

const rate = (rps: number) => `${Math.round(rps).toLocaleString('en-US')} req/s`

async function writeBatchingSection(result: Awaited<ReturnType<typeof batchingBench>>): Promise<void> {
  const row = (name: string, k: ReturnType<typeof summary>) => [
    name,
    rate(k.achievedRps),
    `${k.p50Ms} / ${k.p99Ms} ms`,
    k.generatorLimited ? 'yes' : 'no',
  ]
  const body = [
    'examples/digits-mlp, one 64-pixel row a request, two servers side by side (batching off; on with 32 rows at most ' +
      'and `max_delay_ms` 5), neither with `max_queue_delay_ms`. Knee: the highest offered rate (Poisson, ' +
      `${STEP_S} s steps) with p99 < 100 ms, errors < 0.1% and >= 95% answered.`,
    '',
    markdownTable(
      ['examples/digits-mlp', 'knee (2xx)', 'p50 / p99 at the knee', 'generator-limited'],
      [row('batching off', result.knee.unbatched), row('batching on', result.knee.batched)],
      '--- | ---: | ---: | ---',
    ),
    '',
    `**Gain: ${result.knee.gain}x**; ${result.meanRowsPerBatch} rows per inference on average over the run. Outputs: ` +
      `the ${result.outputs.requests} held-out rows sent to both servers gave ` +
      `${result.outputs.identical ? 'byte-identical answers' : 'DIFFERENT answers'}.` +
      (result.capacity
        ? ` Capacity at ${rate(result.capacity.offeredRps)} offered: ${rate(result.capacity.batchingOff)} -> ` +
          `${rate(result.capacity.batchingOn)} (${result.capacity.gain}x).`
        : ''),
  ].join('\n')
  await writeBenchmarkSection({body, command: commandOf('batching'), id: 'scale-batching', title: 'Batching gain'})
}

async function writeOverloadSection(result: Awaited<ReturnType<typeof overloadBench>>): Promise<void> {
  const refused = (s: ReturnType<typeof summary>) =>
    Object.entries(s.errors)
      .map(([status, n]) => `${n} x ${status}`)
      .join(', ') || '0'
  const body = [
    'examples/digits-mlp as shipped (`max_queue` 256, `max_queue_delay_ms` 25), batching off; on two CPUs or more the ' +
      'server runs on the last one and the load generator on the others (`--shared-cpus` turns that off). S is the ' +
      'best 2xx rate of a capacity probe after a warm-up.',
    '',
    markdownTable(
      ['phase', 'offered', 'answered 2xx', 'refused', 'p99 of accepted'],
      [
        [
          'saturation S',
          rate(result.atSaturation.offeredRps),
          rate(result.atSaturation.achievedRps),
          refused(result.atSaturation),
          `${result.atSaturation.acceptedP99Ms} ms`,
        ],
        [
          '2 x S',
          rate(result.overload.offeredRps),
          rate(result.overload.achievedRps),
          refused(result.overload),
          `${result.overload.acceptedP99Ms} ms`,
        ],
        [
          'S / 2 after',
          rate(result.after.offeredRps),
          rate(result.after.achievedRps),
          refused(result.after),
          `${result.after.acceptedP99Ms} ms`,
        ],
      ],
      '--- | ---: | ---: | ---: | ---:',
    ),
    '',
    `Kept at 2 x S: **${(result.throughputKept * 100).toFixed(1)}%** of the 2xx rate at S ` +
      `(${(result.throughputKeptOfProbe * 100).toFixed(1)}% of the probe's S); p99 of accepted requests ` +
      `**${result.acceptedP99Ratio}x** its value at S; refusals answered in p50 ${result.overload.refusedP50Ms ?? '-'} / ` +
      `p99 ${result.overload.refusedP99Ms ?? '-'} ms from their scheduled send time. Server RSS ` +
      `${result.rssMiB.atSaturation} -> max ${result.rssMiB.maxDuringOverload} -> ${result.rssMiB.end} MiB; back to ` +
      `normal ${result.backToNormalMs ?? 'never'} ms after the load dropped; alive at the end: ${result.alive}.`,
    '',
    'Targets: >= 90% of the saturation throughput kept, accepted p99 < 2x, no crash, memory bounded, normal again ' +
      'within 5 s.',
  ].join('\n')
  await writeBenchmarkSection({
    body,
    command: commandOf('overload'),
    id: 'scale-overload',
    title: 'Overload (2x saturation)',
  })
}

async function writeMetricsCostSection(result: Awaited<ReturnType<typeof metricsCostBench>>): Promise<void> {
  const rounds = (runs: Array<{cpuMsPerRequest: number}>) => runs.map((r) => r.cpuMsPerRequest).join(', ')
  const body = [
    `examples/iris at ${rate(result.offeredRps)}, two servers (\`monitoring.metrics\` true and false), ` +
      `${result.runs.on.length} rounds of ${STEP_S} s each after a warm-up step each, alternated (medians). ` +
      "The cost is the server's CPU time per request (utime + stime from /proc over the step).",
    '',
    markdownTable(
      ['examples/iris', 'server CPU per request (median)', 'rounds'],
      [
        ['`monitoring.metrics: true`', `${result.cpuMsPerRequest.on} ms`, rounds(result.runs.on)],
        ['`monitoring.metrics: false`', `${result.cpuMsPerRequest.off} ms`, rounds(result.runs.off)],
      ],
      '--- | ---: | ---',
    ),
    '',
    `**/metrics costs ${result.costPercent}%** more CPU per request (target: within 5%).`,
  ].join('\n')
  await writeBenchmarkSection({
    body,
    command: commandOf('metrics-cost'),
    id: 'scale-metrics-cost',
    title: '/metrics cost',
  })
}

async function writeAuthCostSection(result: Awaited<ReturnType<typeof authCostBench>>): Promise<void> {
  const rounds = (runs: CostRun[]) => runs.map((r) => r.cpuMsPerRequest).join(', ')
  const body = [
    `examples/iris at ${rate(result.offeredRps)}, two servers (\`serving.auth.enabled\` true with three keys in ` +
      `MLSHIP_API_KEYS, and false), both sent the same \`Authorization: Bearer\` header, ${result.runs.on.length} ` +
      `rounds of ${STEP_S} s each after a warm-up step each, alternated (medians). The cost is the server's CPU ` +
      'time per request (utime + stime from /proc over the step); on a server bound by its CPU, throughput is its ' +
      'inverse.',
    '',
    markdownTable(
      ['examples/iris /predict', 'server CPU per request (median)', 'throughput if CPU-bound', 'rounds'],
      [
        [
          '`serving.auth.enabled: true`',
          `${result.cpuMsPerRequest.on} ms`,
          rate(result.throughputIfCpuBound.on),
          rounds(result.runs.on),
        ],
        [
          '`serving.auth.enabled: false`',
          `${result.cpuMsPerRequest.off} ms`,
          rate(result.throughputIfCpuBound.off),
          rounds(result.runs.off),
        ],
      ],
      '--- | ---: | ---: | ---',
    ),
    '',
    `**API keys cost ${result.costPercent}%** more CPU per request (target: under 3%). The check alone (a SHA-256 ` +
      'of the presented key and a timingSafeEqual against each of the three keys, in onRequest, before the body is ' +
      `read) takes ${result.checkMicroseconds} µs, timed in the script's process (median of 5 rounds): ` +
      `${((result.checkMicroseconds / 1000 / result.cpuMsPerRequest.off) * 100).toFixed(1)}% of the server's CPU ` +
      'per request without keys.',
  ].join('\n')
  await writeBenchmarkSection({
    body,
    command: commandOf('auth-cost'),
    id: 'auth-cost',
    title: 'API keys cost (issue 21)',
  })
}

const mib = (bytes: number) => Math.round(bytes / 1024 / 1024)

function summary(s: StepResult) {
  return {
    achievedRps: s.achievedRps,
    acceptedP99Ms: s.okLatencyMs?.p99Ms,
    errors: s.errors.byStatus,
    generatorLimited: s.generator.limited,
    generatorSendLagP99Ms: s.generator.sendLagP99Ms,
    offeredRps: s.offeredRps,
    p50Ms: s.latencyMs.p50Ms,
    p99Ms: s.latencyMs.p99Ms,
    ...(s.shedLatencyMs ? {refusedP50Ms: s.shedLatencyMs.p50Ms, refusedP99Ms: s.shedLatencyMs.p99Ms} : {}),
    verdict: s.verdict,
  }
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-scale-'))
  const generator = LoadGenerator.start()
  const results: Record<string, unknown> = {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model,
    date: new Date().toISOString(),
    node: process.version,
    quick,
  }
  try {
    let saturationRps: number | undefined
    if (which === 'batching' || which === 'all') {
      const batching = await batchingBench(work, generator)
      saturationRps = batching.saturationRps
      results.batching = batching
      await writeBatchingSection(batching)
    }
    if (which === 'overload' || which === 'all') {
      const overload = await overloadBench(
        work,
        generator,
        knownSaturation ?? (args.includes('--overload-batching') ? saturationRps : undefined),
      )
      results.overload = overload
      await writeOverloadSection(overload)
    }
    if (which === 'metrics-cost' || which === 'all') {
      const metricsCost = await metricsCostBench(work, generator)
      results.metricsCost = metricsCost
      await writeMetricsCostSection(metricsCost)
    }
    if (which === 'auth-cost') {
      const authCost = await authCostBench(work, generator)
      results.authCost = authCost
      await writeAuthCostSection(authCost)
    }
  } finally {
    await generator.close()
    await rm(work, {force: true, recursive: true})
  }
  const text = JSON.stringify(results, null, 2)
  if (jsonOut) await writeFile(jsonOut, `${text}\n`)
  process.stdout.write(`${text}\n`)
}

await main()
