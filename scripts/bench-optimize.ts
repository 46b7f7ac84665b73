/**
 * Optimisation benchmark (`npm run bench:optimize`): for the digits example and a larger MLP made with torch, each of
 * `mlship optimize`'s methods (graph, fp16, int8) against the float32 model: file size, argmax agreement on the
 * held-out digits rows, batch-1 latency and batch-32 throughput in-process (onnxruntime, one intra-op thread, as the
 * server runs a worker).
 *
 *   npm run bench:optimize -- [--quick] [--runs N] [--json]
 *
 * Each run measures the float32 model and its three optimised copies side by side (rounds in which every model runs
 * in turn, the order alternating); the figures are medians over the runs, and every ratio is taken within one run
 * before its median. The larger MLP (64-2048-2048-2048-10, 8.5 million weights) is trained once by
 * src/optimize/test-support/make_mlp.py (needs torch: scripts/test-torch.sh) and kept in tmp/bench-optimize/.
 * --quick: one short run, for a smoke test; it writes nothing to BENCHMARKS.md.
 */
import {cp, mkdir, mkdtemp, rm} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {loadModelProject} from '../src/model/load-model.js'
import {feedsOf, gateData} from '../src/optimize/accuracy.js'
import {optimizeModel, type OptimizeResult} from '../src/optimize/optimize.js'
import {createSession} from '../src/optimize/runtime.js'
import {measureSpeed, THROUGHPUT_BATCH} from '../src/optimize/speed.js'
import {largerMlp, torchPython} from '../src/optimize/test-support/torch.js'
import {formatBytes} from '../src/util/bytes.js'
import {examplesDir} from '../src/util/paths.js'
import {markdownTable, median, writeBenchmarkSection} from './lib/benchmarks-md.js'

const {values} = parseArgs({
  options: {json: {type: 'boolean'}, quick: {type: 'boolean'}, runs: {type: 'string'}},
})
const quick = Boolean(values.quick)
const runs = Number(values.runs ?? (quick ? 1 : 5))
const speed = quick ? {rounds: 1, roundMs: 30} : {rounds: 5, roundMs: 200}
const methods = ['graph', 'fp16', 'int8'] as const
const log = (line: string) => process.stderr.write(`${line}\n`)

const root = path.resolve(import.meta.dirname, '..')
const digits = path.join(examplesDir(), 'digits-mlp')
const heldOut = path.join(digits, 'test.csv')
const work = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-optimize-'))

interface Row {
  model: string
  method: string
  loadMs: number
  sizeBytes: number
  sizeRatio: number
  agreement: number
  latencyMs: number
  latencyRatio: number
  rowsPerSecond: number
  throughputRatio: number
}
const rows: Row[] = []
const float16Nodes: string[] = []

async function largerModelDir(): Promise<string> {
  const dir = path.join(root, 'tmp', 'bench-optimize', 'larger-mlp')
  if (existsSync(path.join(dir, 'model.onnx')) && existsSync(path.join(dir, 'model.yaml'))) return dir
  const {python, skipReason} = await torchPython()
  if (!python) throw new Error(`the larger MLP needs torch: ${skipReason ?? ''} (source scripts/test-torch.sh)`)
  log('training the larger MLP with torch (once; kept in tmp/bench-optimize/)')
  log(`  ${JSON.stringify(await largerMlp(python, dir))}`)
  return dir
}

async function benchModel(name: string, sourceDir: string): Promise<void> {
  const dir = path.join(work, name)
  await mkdir(dir)
  for (const file of ['model.onnx', 'model.yaml']) await cp(path.join(sourceDir, file), path.join(dir, file))
  const results: Record<string, OptimizeResult> = {}
  for (const method of methods) {
    log(`${name}: optimize --method ${method}`)
    results[method] = await optimizeModel({
      data: heldOut,
      dir,
      ignoreColumns: ['label'],
      method,
      out: path.join(work, `${name}-${method}`),
      speed: false,
    })
  }
  const project = await loadModelProject(dir)
  const data = await gateData({data: heldOut, ignoreColumns: ['label'], project})
  const one = feedsOf(project.signature.inputs, data.inputs, data.rows.slice(0, 1))
  const batch = feedsOf(project.signature.inputs, data.inputs, data.rows.slice(0, THROUGHPUT_BATCH))
  const files = [project.modelPath, ...methods.map((method) => results[method]!.output.modelPath)]
  const sessions = await Promise.all(
    files.map((file) => createSession(file, {device: 'cpu', intraOpThreads: 1, what: file})),
  )
  const perRun: Array<Array<{latencyMs: number; rowsPerSecond: number; loadMs: number}>> = []
  try {
    for (let run = 0; run < runs; run++) {
      log(`${name}: speed run ${run + 1} of ${runs}`)
      const samples = await measureSpeed(
        sessions.map((session) => ({batch, one, session})),
        speed,
      )
      // Load time: one session made from each file per run (what a server worker does at start).
      const loads: number[] = []
      for (const file of files) {
        const start = performance.now()
        const session = await createSession(file, {device: 'cpu', intraOpThreads: 1, what: file})
        loads.push(performance.now() - start)
        await session.release()
      }
      perRun.push(samples.map((sample, i) => ({...sample, loadMs: loads[i]!})))
    }
  } finally {
    for (const session of sessions) await session.release()
  }
  const fp16 = results.fp16!.fp16!
  const count = (ops: Record<string, number>) => Object.values(ops).reduce((a, b) => a + b, 0)
  const listed = (ops: Record<string, number>) =>
    Object.entries(ops)
      .map(([op, n]) => `${op} x${n}`)
      .join(', ') || 'none'
  float16Nodes.push(
    `${name}: ${count(fp16.float16Ops)} of ${count(fp16.float16Ops) + count(fp16.float32Ops)} nodes in float16 ` +
      `(${listed(fp16.float16Ops)}); float32: ${listed(fp16.float32Ops)}.`,
  )
  const at = (i: number, key: 'latencyMs' | 'rowsPerSecond' | 'loadMs') => median(perRun.map((r) => r[i]![key]))
  rows.push({
    agreement: 1,
    latencyMs: at(0, 'latencyMs'),
    latencyRatio: 1,
    loadMs: at(0, 'loadMs'),
    method: 'float32',
    model: name,
    rowsPerSecond: at(0, 'rowsPerSecond'),
    sizeBytes: results.int8!.source.sizeBytes,
    sizeRatio: 1,
    throughputRatio: 1,
  })
  for (const [i, method] of methods.entries()) {
    const result = results[method]!
    rows.push({
      agreement: result.accuracy.agreement!,
      latencyMs: at(i + 1, 'latencyMs'),
      latencyRatio: median(perRun.map((r) => r[0]!.latencyMs / r[i + 1]!.latencyMs)),
      loadMs: at(i + 1, 'loadMs'),
      method,
      model: name,
      rowsPerSecond: at(i + 1, 'rowsPerSecond'),
      sizeBytes: result.output.sizeBytes,
      sizeRatio: result.output.sizeBytes / result.source.sizeBytes,
      throughputRatio: median(perRun.map((r) => r[i + 1]!.rowsPerSecond / r[0]!.rowsPerSecond)),
    })
  }
}

try {
  await benchModel('digits-mlp', digits)
  await benchModel('larger-mlp', await largerModelDir())
} finally {
  await rm(work, {force: true, recursive: true})
}

if (values.json) process.stdout.write(`${JSON.stringify({quick, rows, runs, speed}, null, 2)}\n`)
const table = markdownTable(
  [
    'model',
    'method',
    'file',
    'size',
    'argmax agreement',
    'batch-1 latency',
    'vs float32',
    'batch-32 rows/s',
    'vs float32',
    'load',
  ],
  rows.map((r) => [
    r.model,
    r.method,
    formatBytes(r.sizeBytes),
    `${r.sizeRatio.toFixed(2)}x`,
    r.method === 'float32' ? '-' : `${(r.agreement * 100).toFixed(2)}%`,
    `${r.latencyMs.toFixed(3)} ms`,
    r.method === 'float32' ? '-' : `${r.latencyRatio.toFixed(2)}x`,
    Math.round(r.rowsPerSecond).toString(),
    r.method === 'float32' ? '-' : `${r.throughputRatio.toFixed(2)}x`,
    `${Math.round(r.loadMs)} ms`,
  ]),
  '--- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---:',
)
process.stderr.write(`\n${table}\n`)
if (!quick) {
  await writeBenchmarkSection({
    body: [
      `${runs} runs; in each, the float32 model and its three optimised copies ran side by side in one process ` +
        `(${speed.rounds} rounds of ${speed.roundMs} ms per model and kind of call, the order alternating), with ` +
        "onnxruntime's CPU provider and one intra-op thread, as one server worker runs. Figures are medians over the " +
        'runs; "vs float32" is the ratio within each run (latency: float32 over optimised, higher is faster), then ' +
        'its median. Agreement: share of the 360 held-out digits rows (examples/digits-mlp/test.csv) whose argmax ' +
        "equals the float32 model's. The larger MLP is 64-2048-2048-2048-10 (8.5 million weights), trained by " +
        'torch on the same split.',
      '',
      table,
      '',
      'int8 weights are 7-bit symmetric per output column and activations are quantised per call; onnxruntime fuses ' +
        'each quantised MatMul/Gemm into DynamicQuantizeMatMul, an integer GEMM (VNNI on this CPU). fp16 keeps in ' +
        "float32 what onnxruntime's CPU provider has no float16 kernel for, which on this CPU is nearly everything: " +
        'the file halves, the arithmetic stays float32 (onnxruntime widens the weights at load), so it is not faster ' +
        'on a CPU; float16 pays on GPUs. graph is what onnxruntime does itself when it loads a model, saved ahead: ' +
        'the same arithmetic; what it can save is load time (load: one session made from the file, median over the ' +
        'runs).',
      '',
      ...float16Nodes.map((line) => `- fp16 ${line}`),
      '',
      'Read the ratios with the load average of the stamp: on a busy machine a long call (float32 at batch 32) is ' +
        'preempted more often than a short one, and the ratios grow.',
    ].join('\n'),
    command: 'npm run bench:optimize',
    id: 'optimize',
    title: 'mlship optimize: graph, float16 and int8 against float32 (issue 14)',
  })
}
