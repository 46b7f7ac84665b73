/**
 * Image build benchmark (`npm run bench:build`): cold build, rebuilds after a model-only and a config-only change,
 * an unchanged rebuild, the image size above its base image, and the time from `docker run` to ready. The rebuild
 * times are buildImage's own, in this process (context, engine look-ups, the build); one row times the model.yaml-only
 * rebuild through the CLI as a process as well (needs `npm run build`).
 *
 *   npm run bench:build -- [--base-image IMAGE] [--runs N] [--quick] [--json]
 *
 * Writes the BENCHMARKS.md section "Images and builds" (scripts/lib/benchmarks-md.ts); --json prints the figures too.
 * Needs a Docker engine and a Node.js base image (MLSHIP_TEST_BASE_IMAGE from scripts/test-env.sh, else
 * node:20-bookworm-slim). Everything it creates is removed at the end. Targets (issue 5): rebuilds <= 5 s, size
 * above base <= 60 MB + the model, run-to-ready <= 1.5 s; (issue 19) a model.yaml-only rebuild <= 1 s, and
 * `docker run` -> ready within 1.3x a trivial node:http server's in the same base image, measured in alternation, and
 * beside them a bare ONNX server (onnxruntime-node and node:http, in the model's image: the floor for any server of the
 * model). Beside the wall times, the CPU time to ready of the server's process and of the two others (from /proc,
 * where the engine runs on this machine), which a busy machine disturbs less. --quick: 2 runs of each (a smoke run).
 */
import {execFile} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {cp, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {parseArgs, promisify} from 'node:util'

import {buildImage, type BuildImageResult} from '../src/image/build-image.js'
import {waitReady} from '../src/container/container.js'
import {connectEngine} from '../src/docker/engine.js'
import {examplesDir, packageRoot} from '../src/util/paths.js'
import {markdownTable, writeBenchmarkSection} from './lib/benchmarks-md.js'

const {values} = parseArgs({
  options: {
    'base-image': {type: 'string'},
    json: {type: 'boolean'},
    quick: {type: 'boolean'},
    runs: {type: 'string'},
  },
})

const engine = await connectEngine()
const baseImage = values['base-image'] ?? process.env.MLSHIP_TEST_BASE_IMAGE ?? 'node:20-bookworm-slim'
const runs = Number(values.runs ?? (values.quick ? 2 : 5))
const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-build-'))
const modelDir = path.join(work, 'iris')
await cp(path.join(examplesDir(), 'iris'), modelDir, {recursive: true})
const repo = `mlship-bench/iris-${process.pid}`
const images: string[] = []
const log = (line: string) => process.stderr.write(`${line}\n`)
const execFileAsync = promisify(execFile)

interface Row {
  what: string
  seconds: number
  cachedSteps: string
  note: string
}
const rows: Row[] = []

async function timedBuild(what: string, tag: string, noCache = false): Promise<BuildImageResult> {
  images.push(`${repo}:${tag}`)
  const result = await buildImage({baseImage, dir: modelDir, engine, noCache, tags: [`${repo}:${tag}`]})
  rows.push({
    cachedSteps: result.upToDate ? 'all (up to date)' : `${result.steps.cached}/${result.steps.total}`,
    note: '',
    seconds: result.buildSeconds,
    what,
  })
  log(`${what}: ${result.buildSeconds.toFixed(2)} s (${rows.at(-1)!.cachedSteps})`)
  return result
}

async function layers(id: string): Promise<string[]> {
  return (await engine.images.inspect(id))?.layers ?? []
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  const middle = sorted.length / 2
  return Number.isInteger(middle) ? (sorted[middle - 1]! + sorted[middle]!) / 2 : sorted[Math.floor(middle)]!
}

/** CPU time (user + system, 10 ms ticks) of one process so far, in ms; undefined where its /proc entry is not here. */
function processCpuMs(pid: number): number | undefined {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th of those.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return undefined
  }
}

/**
 * CPU time so far of a container's first process (the server: in the cluster layout, its first HTTP process), read
 * from /proc as the engine's host numbers it: a machine busy with other work changes it less than wall time. Undefined
 * where the engine runs elsewhere (no such /proc entry).
 */
async function containerCpu(id: string): Promise<{serverMs: number} | undefined> {
  const pid = (await engine.containers.inspect(id))?.pid
  const serverMs = pid ? processCpuMs(pid) : undefined
  return serverMs === undefined ? undefined : {serverMs}
}

/**
 * How often the runs to ready ask for /ready: waitReady's default (50 ms) would round each time up to the next try,
 * a step of a sixth of the time measured.
 */
const READY_POLL_MS = 5

/** A trivial node:http server: the floor for a Node.js container. */
const TRIVIAL_SERVER = "require('http').createServer((q, s) => s.end('ok')).listen(8080, '0.0.0.0')"
/**
 * The least an ONNX server does before it answers: onnxruntime-node opens the model (one session, one thread), then a
 * node:http server listens; no framework, no warm-up. Run in the model's own image: the floor for any Node.js server of
 * this model.
 */
const BARE_ONNX_SERVER =
  "const ort = require('/app/node_modules/onnxruntime-node'); ort.InferenceSession.create('/app/model/model.onnx', " +
  "{intraOpNumThreads: 1}).then(() => require('http').createServer((q, s) => s.end('ok')).listen(8080, '0.0.0.0'))"

/**
 * `docker run` -> first 200 on /ready, and the CPU time of the container's first process to then: of `image` as it is,
 * or of a script run by node in it. Every container of the comparison is run this one way (create, start, inspect for
 * the port), as `docker run -p` does; `mlship serve` also looks at the image first (runContainer), which is not
 * `docker run`'s work.
 */
async function runToReady(
  image: string,
  script?: string,
): Promise<{ms: number; startToReadyMs: number; cpuMs?: number}> {
  const started = performance.now()
  const id = await engine.containers.create({
    ...(script === undefined ? {} : {command: ['node', '-e', script]}),
    image,
    labels: {'dev.mlship.managed': 'true'},
    publish: {containerPort: 8080, hostIp: '127.0.0.1', hostPort: 0},
  })
  try {
    const starting = performance.now()
    await engine.containers.start(id)
    const info = await engine.containers.inspect(id)
    const hostPort = info?.published[0]?.hostPort ?? 0
    const url = `http://127.0.0.1:${hostPort}`
    const container = {hostIp: '127.0.0.1', hostPort, id, image, name: info?.name ?? id, url}
    await waitReady({container, engine, pollMs: READY_POLL_MS, timeoutMs: 30_000})
    const ready = performance.now()
    return {cpuMs: (await containerCpu(id))?.serverMs, ms: ready - started, startToReadyMs: ready - starting}
  } finally {
    await engine.containers.remove(id)
  }
}

function sharedPrefix(a: string[], b: string[]): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return i
}

try {
  const cold = await timedBuild('cold build (--no-cache)', 'cold', true)
  await timedBuild('rebuild, nothing changed (another tag)', 'same')

  const configFile = path.join(modelDir, 'model.yaml')
  const original = await readFile(configFile, 'utf8')
  // Unique per run, so that no image left from an earlier run has the same inputs (that would be "up to date").
  const stamp = `${process.pid}-${Date.now()}`
  // Several model.yaml-only rebuilds, each with another description: the row gives their median.
  const configSeconds: number[] = []
  let config: BuildImageResult | undefined
  for (let i = 0; i < runs; i++) {
    await writeFile(configFile, original.replace(/^description: .*$/m, `description: benchmark run ${stamp} ${i}`))
    config = await timedBuild('rebuild after a model.yaml-only change', `config-${i}`)
    configSeconds.push(config.buildSeconds)
    if (i > 0) rows.pop()
  }
  rows.at(-1)!.seconds = median(configSeconds)
  const coldLayers = await layers(cold.imageId)
  const configLayers = await layers(config!.imageId)
  rows.at(-1)!.note =
    `${sharedPrefix(coldLayers, configLayers)} of ${configLayers.length} layers re-used; median of ${runs} ` +
    `(${configSeconds.map((x) => x.toFixed(2)).join(', ')} s)`

  // The same change through the command line, end to end: process start, module loading, the engine's connection.
  const cliSeconds: number[] = []
  const cli = path.join(packageRoot(), 'bin', 'run.js')
  const compiled = existsSync(path.join(packageRoot(), 'dist', 'commands', 'build.js'))
  // Run -1 is not counted: the compiled serving app (dist/) bundles to other bytes than its sources, so the first CLI
  // build makes its own runtime stage.
  for (let i = -1; compiled && i < runs; i++) {
    await writeFile(configFile, original.replace(/^description: .*$/m, `description: benchmark cli ${stamp} ${i}`))
    images.push(`${repo}:cli-${i}`)
    const started = performance.now()
    await execFileAsync(process.execPath, [
      cli,
      'build',
      modelDir,
      '--base-image',
      baseImage,
      '--tag',
      `${repo}:cli-${i}`,
    ])
    if (i >= 0) cliSeconds.push((performance.now() - started) / 1000)
  }
  if (compiled) {
    rows.push({
      cachedSteps: '',
      note: `\`mlship build\` as a process (node bin/run.js), median of ${runs} (${cliSeconds.map((x) => x.toFixed(2)).join(', ')} s)`,
      seconds: median(cliSeconds),
      what: 'the same through the CLI, end to end',
    })
    log(`${rows.at(-1)!.what}: ${rows.at(-1)!.seconds.toFixed(2)} s`)
  } else log('The CLI row is left out: no dist/ (run `npm run build` first).')

  const modelFile = path.join(modelDir, 'model.onnx')
  const originalModel = await readFile(modelFile)
  // Several model-only rebuilds, each with other model bytes: an unknown protobuf field (99, bytes) appended to the
  // ONNX model changes its bytes, not its graph. The row gives their median.
  const modelSeconds: number[] = []
  let model: BuildImageResult | undefined
  for (let i = 0; i < runs; i++) {
    const extra = Buffer.from(`${stamp} ${i}`)
    await writeFile(modelFile, Buffer.concat([originalModel, Buffer.from([0x9a, 0x06, extra.length]), extra]))
    model = await timedBuild('rebuild after a model-only change', `model-${i}`)
    modelSeconds.push(model.buildSeconds)
    if (i > 0) rows.pop()
  }
  if (model === undefined) throw new Error('--runs must be at least 1')
  rows.at(-1)!.seconds = median(modelSeconds)
  const modelLayers = await layers(model.imageId)
  rows.at(-1)!.note =
    `${sharedPrefix(configLayers, modelLayers)} of ${modelLayers.length} layers re-used; median of ${runs} ` +
    `(${modelSeconds.map((x) => x.toFixed(2)).join(', ')} s)`

  const modelBytes = (await stat(modelFile)).size
  // docker run -> ready for the model image and for a trivial node:http server in the same base image, alternated.
  const readyTimes: number[] = []
  const readyOnly: number[] = []
  const trivialTimes: number[] = []
  const bareTimes: number[] = []
  // CPU time to ready (see containerCpu): the server's first process (it serves at ready, in either layout; the
  // cluster's others start once it has answered), the trivial server, the bare ONNX server.
  const serverCpu: number[] = []
  const trivialCpu: number[] = []
  const bareCpu: number[] = []
  for (let i = 0; i < runs; i++) {
    const server = await runToReady(model.imageId)
    readyTimes.push(server.ms)
    readyOnly.push(server.startToReadyMs)
    if (server.cpuMs !== undefined) serverCpu.push(server.cpuMs)
    const trivial = await runToReady(baseImage, TRIVIAL_SERVER)
    trivialTimes.push(trivial.ms)
    if (trivial.cpuMs !== undefined) trivialCpu.push(trivial.cpuMs)
    const bare = await runToReady(model.imageId, BARE_ONNX_SERVER)
    bareTimes.push(bare.ms)
    if (bare.cpuMs !== undefined) bareCpu.push(bare.cpuMs)
  }
  const cpuMedian = (values: number[]) => (values.length > 0 ? Math.round(median(values)) : undefined)
  const cpuToReady = {
    bareOnnxMs: cpuMedian(bareCpu),
    serverMs: cpuMedian(serverCpu),
    trivialMs: cpuMedian(trivialCpu),
  }

  const summary = {
    baseImage,
    builds: rows,
    date: new Date().toISOString(),
    docker: engine.info.version,
    imageSizeAboveBaseMB: Number(((model.sizeAboveBaseBytes ?? Number.NaN) / 1e6).toFixed(1)),
    imageSizeMB: Number((model.sizeBytes / 1e6).toFixed(1)),
    machine: `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    modelBytes,
    contextMB: Number((model.contextSizeBytes / 1e6).toFixed(1)),
    runToReadyMs: {
      max: Math.round(Math.max(...readyTimes)),
      median: Math.round(median(readyTimes)),
      min: Math.round(Math.min(...readyTimes)),
      runs,
    },
    startToReadyMs: {median: Math.round(median(readyOnly))},
    cpuToReadyMs: cpuToReady,
    trivialRunToReadyMs: {median: Math.round(median(trivialTimes)), runs},
    bareOnnxRunToReadyMs: {median: Math.round(median(bareTimes)), runs},
  }

  if (values.json) console.log(JSON.stringify(summary, null, 2))
  const table = markdownTable(
    ['build', 'seconds', 'steps cached', 'layers'],
    rows.map((row) => [row.what, row.seconds.toFixed(2), row.cachedSteps, row.note]),
    '--- | ---: | --- | ---',
  )
  const body = [
    `Base image \`${baseImage}\`, Docker ${summary.docker}; the iris example (model ${modelBytes} bytes).`,
    '',
    table,
    '',
    `Image ${summary.imageSizeMB} MB, ${summary.imageSizeAboveBaseMB} MB above the base image; build context ` +
      `${summary.contextMB} MB. \`docker run\` -> ready (create + start + first 200 on /ready, asked every ${READY_POLL_MS} ms), ${runs} runs: median ` +
      `${summary.runToReadyMs.median} ms (min ${summary.runToReadyMs.min}, max ${summary.runToReadyMs.max}); start -> ` +
      `ready ${summary.startToReadyMs.median} ms. A trivial node:http server in the same base image, run in ` +
      `alternation: ${summary.trivialRunToReadyMs.median} ms (${(median(readyTimes) / median(trivialTimes)).toFixed(2)}x). ` +
      `A bare ONNX server in the model's image (onnxruntime-node opens the model, then node:http listens; no ` +
      `framework, no warm-up), in the same alternation: ${summary.bareOnnxRunToReadyMs.median} ms ` +
      `(${(median(bareTimes) / median(trivialTimes)).toFixed(2)}x the trivial server).` +
      (cpuToReady.serverMs === undefined
        ? ''
        : ` CPU time to ready (user + system, medians): the server's process ${cpuToReady.serverMs} ms (in the ` +
          `cluster layout, the first HTTP process: the others start once it has answered)` +
          `; the trivial server ${cpuToReady.trivialMs ?? 'n/a'} ms; the bare ONNX server ${cpuToReady.bareOnnxMs ?? 'n/a'} ms.`),
    '',
    'Targets (issue 5): rebuilds <= 5 s, size above the base <= 60 MB + the model, `docker run` -> ready <= 1.5 s; ' +
      '(issue 19) a model.yaml-only rebuild <= 1 s, `docker run` -> ready within 1.3x the trivial server.',
  ].join('\n')
  if (!values.json) console.log(body)
  await writeBenchmarkSection({
    body,
    command: `npm run bench:build${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    id: 'build',
    title: 'Images and builds',
  })
} finally {
  for (const image of images) await engine.images.remove(image, {force: true}).catch(() => undefined)
  await rm(work, {force: true, recursive: true})
}
