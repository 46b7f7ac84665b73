import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, readdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {Document, parseDocument, visit} from 'yaml'

import {parseConfigText} from '../config/load.js'
import {DEFAULT_MIN_AGREEMENT, type OptimizationMethod, type Optimization} from '../config/schema.js'
import {ConfigError, ExitCode, MlshipError, ModelError} from '../errors.js'
import {loadModelProject, type ResolvedModel} from '../model/load-model.js'
import {ortVersion} from '../model/session.js'
import {assertCudaUsable} from '../serving/device.js'
import {sha256File} from '../util/hash.js'
import {type AgreementReport, compareModels, feedsOf, type GateData, gateData} from './accuracy.js'
import {convertToFloat16, type Float16Result} from './float16.js'
import {type Int8Result, quantizeInt8} from './int8.js'
import {encodeOnnxModel, readOnnxModel} from './onnx-model.js'
import {createSession, savedByRuntime} from './runtime.js'
import {measureSpeed, median, type SpeedOptions, type SpeedSample, THROUGHPUT_BATCH} from './speed.js'

/**
 * The level of the offline graph optimisation: 'extended' (constant folding, redundant nodes, operator fusions) is
 * the highest whose result runs on any CPU; 'all' adds layout changes for the CPU it runs on, which onnxruntime
 * itself warns must not be saved for another machine. The server applies 'all' when it loads the model anyway.
 */
export const GRAPH_LEVEL = 'extended'

export interface OptimizeOptions {
  /** Directory with model.yaml (or its path). */
  dir: string
  method: OptimizationMethod
  /** Rows to check the optimised model on (CSV or JSONL); model.yaml examples and generated rows when absent. */
  data?: string
  ignoreColumns?: string[]
  /** The new model directory; `<dir>-<method>` beside the source when absent. */
  out?: string
  /** Write the optimised model beside the source instead, and point model.yaml at it with a new version. */
  inPlace?: boolean
  /** Lowest share of rows that must agree (0..1); default 0.99. */
  minAgreement?: number
  /** Write the model even below minAgreement. */
  force?: boolean
  /** Optimise for, check and measure on the CUDA execution provider. */
  gpu?: boolean
  /** Speed measurement settings, or false to skip it. */
  speed?: SpeedOptions | false
  onProgress?: (message: string) => void
  /** The time written into optimization.created; now when absent. */
  created?: Date
}

export interface ModelFacts {
  dir: string
  file: string
  modelPath: string
  name: string
  version: string
  sha256: string
  sizeBytes: number
}

export interface SpeedComparison {
  batch: number
  original: SpeedSample & {loadMs: number}
  optimized: SpeedSample & {loadMs: number}
}

export interface OptimizeResult {
  method: OptimizationMethod
  device: 'cpu' | 'cuda'
  source: ModelFacts
  output: ModelFacts
  written: boolean
  accuracy: AgreementReport & {
    data: string
    truncated: boolean
    minAgreement: number
    /** False when no output is a classifier or integer output: nothing to hold the agreement bar against. */
    gated: boolean
    passed: boolean
    forced: boolean
  }
  speed?: SpeedComparison
  int8?: Pick<Int8Result, 'quantized' | 'skipped'>
  fp16?: Omit<Float16Result, 'model'>
  /** Plain words about what this method gives here. */
  notes: string[]
}

interface Target {
  dir: string
  /** The new model file, absolute. */
  modelPath: string
  file: string
  replaces: boolean
}

/**
 * `mlship optimize`: makes a graph-optimised, float16 or int8 model from the model of a model directory, runs both on
 * the same rows and compares their outputs (the accuracy gate), measures both side by side, and writes the new model
 * with its provenance into a new model directory (or beside the source, with a new version). Below the agreement bar
 * it writes nothing, unless forced.
 */
export async function optimizeModel(options: OptimizeOptions): Promise<OptimizeResult> {
  const progress = options.onProgress ?? (() => undefined)
  const project = await loadModelProject(options.dir)
  const device = options.gpu ? 'cuda' : 'cpu'
  if (device === 'cuda' && options.method === 'int8') {
    throw new ConfigError(
      '--method int8 --gpu: dynamic int8 quantisation is for the CPU (onnxruntime runs it with integer CPU kernels; ' +
        'on a GPU its nodes would run on the CPU with copies in between)',
      {code: 'USAGE', suggestions: ['On a GPU, use --method fp16 --gpu (or --method graph --gpu).']},
    )
  }
  if (device === 'cuda') assertCudaUsable({device, source: 'the --gpu flag'})
  const minAgreement = options.minAgreement ?? DEFAULT_MIN_AGREEMENT
  if (!(minAgreement >= 0 && minAgreement <= 1)) {
    throw new ConfigError(`--min-agreement must be a share between 0 and 1 (a percentage 0..100 on the command line)`, {
      code: 'USAGE',
    })
  }
  const target = await resolveTarget(project, options)
  const data = await gateData({data: options.data, ignoreColumns: options.ignoreColumns, project})

  progress(`reading ${project.modelPath}`)
  const loaded = await readOnnxModel(project.modelPath)
  const sourceBytes = encodeOnnxModel(loaded.model, project.modelPath)
  const sourceSha = await sha256File(project.modelPath)
  const notes: string[] = []
  const result: Partial<OptimizeResult> = {}

  progress(`optimising (${options.method}, ${device})`)
  let optimized: Uint8Array
  switch (options.method) {
    case 'graph': {
      optimized = await savedByRuntime(sourceBytes, {device, level: GRAPH_LEVEL, what: 'the model'})
      notes.push(
        'onnxruntime applies these graph optimisations itself whenever it loads a model (the server loads with all ' +
          'of them on), so a pre-optimised model computes the same way; what it can save is load time.',
      )
      break
    }
    case 'int8': {
      const int8 = quantizeInt8(loaded.model, project.modelPath)
      if (int8.quantized.length === 0) {
        throw new ModelError(
          `${project.modelPath}: no MatMul or Gemm node has a constant float32 weight, so there is nothing to quantise`,
          {code: 'OPTIMIZE_NOTHING', details: {file: project.modelPath, skipped: int8.skipped}},
        )
      }
      result.int8 = {quantized: int8.quantized, skipped: int8.skipped}
      optimized = encodeOnnxModel(int8.model, project.modelPath)
      break
    }
    case 'fp16': {
      const fp16 = await convertToFloat16(loaded.model, {device}, project.modelPath)
      result.fp16 = {clamped: fp16.clamped, float16Ops: fp16.float16Ops, float32Ops: fp16.float32Ops}
      optimized = encodeOnnxModel(fp16.model, project.modelPath)
      notes.push(float16Note(fp16, device))
      break
    }
  }

  progress(`comparing both models on ${data.rows.length} rows (${data.source})`)
  const settings = {device, intraOpThreads: project.config.serving.intra_op_threads} as const
  const reference = await createSession(sourceBytes, {...settings, what: 'the source model'})
  const candidate = await createSession(optimized, {...settings, what: `the ${options.method} model`})
  let accuracy: OptimizeResult['accuracy']
  try {
    const report = await compareModels({candidate, data, reference, signature: project.signature})
    const gated = report.agreement !== undefined
    const passed = !gated || report.agreement! >= minAgreement
    accuracy = {
      ...report,
      data: data.source,
      forced: !passed && Boolean(options.force),
      gated,
      minAgreement,
      passed,
      truncated: data.truncated,
    }
    if (!passed && !options.force) throw belowAgreement(project, options.method, accuracy)
    if (!gated) {
      notes.push(
        'No output has labels in model.yaml and none is an integer, so no agreement was held against the bar: ' +
          'read the differences above, or add labels to the classifier output.',
      )
    }
    if (options.speed !== false) {
      progress('measuring speed (batch 1 and batch 32, both models in turn)')
      result.speed = await compareSpeed(
        {reference: {bytes: sourceBytes, session: reference}, candidate: {bytes: optimized, session: candidate}},
        project,
        data,
        settings,
        options.speed ?? {},
      )
    }
  } finally {
    await reference.release()
    await candidate.release()
  }

  progress(`writing ${target.modelPath}`)
  // In the order a reader wants it: what was done, to what, how closely it agrees, then the circumstances.
  const optimization: Optimization = {
    method: options.method,
    device,
    source: {
      file: toPosix(path.relative(target.dir, project.modelPath)),
      sha256: sourceSha,
      version: project.config.version,
    },
    ...(accuracy.agreement === undefined ? {} : {agreement: significant(accuracy.agreement)}),
    rows: accuracy.rows,
    outputs: accuracy.outputs.map((o) => ({
      name: o.name,
      max_abs_diff: significant(o.max_abs_diff),
      mean_abs_diff: significant(o.mean_abs_diff),
      ...(o.argmax_agreement === undefined ? {} : {argmax_agreement: significant(o.argmax_agreement)}),
      ...(o.exact_agreement === undefined ? {} : {exact_agreement: significant(o.exact_agreement)}),
    })),
    ...(accuracy.forced ? {forced: true} : {}),
    onnxruntime: await ortVersion(),
    created: (options.created ?? new Date()).toISOString(),
  }
  const output = await writeOutput(project, target, optimized, optimization, Boolean(options.inPlace))
  return {
    ...result,
    accuracy,
    device,
    method: options.method,
    notes,
    output,
    source: {
      dir: project.dir,
      file: project.file,
      modelPath: project.modelPath,
      name: project.config.name,
      sha256: sourceSha,
      sizeBytes: loaded.sizeBytes,
      version: project.config.version,
    },
    written: true,
  }
}

function float16Note(fp16: Float16Result, device: 'cpu' | 'cuda'): string {
  const count = (ops: Record<string, number>) => Object.values(ops).reduce((a, b) => a + b, 0)
  const half = count(fp16.float16Ops)
  const total = half + count(fp16.float32Ops)
  if (device === 'cuda') return `${half} of ${total} nodes compute in float16 on the GPU; the rest stay float32.`
  return (
    `float16 pays on GPUs (half the memory traffic, tensor cores). onnxruntime's CPU provider has float16 kernels ` +
    `for few operators, and ${half} of ${total} nodes compute in float16 here: on this CPU float16 halves the file ` +
    'and the arithmetic stays float32 (onnxruntime widens the weights when it loads them), so expect no speed-up.'
  )
}

/** Six significant digits: enough for a difference or a share, short enough to read in model.yaml. */
function significant(value: number): number {
  if (!Number.isFinite(value)) return Number.MAX_VALUE
  return value === 0 ? 0 : Number(value.toPrecision(6))
}

function toPosix(file: string): string {
  return file.split(path.sep).join('/')
}

function belowAgreement(
  project: ResolvedModel,
  method: OptimizationMethod,
  accuracy: OptimizeResult['accuracy'],
): MlshipError {
  const percent = (share: number) => `${(share * 100).toFixed(2)}%`
  const worst = accuracy.outputs
    .filter((o) => (o.argmax_agreement ?? o.exact_agreement) !== undefined)
    .map((o) => `${o.name} ${percent((o.argmax_agreement ?? o.exact_agreement)!)}`)
    .join(', ')
  return new MlshipError(
    `${project.file}: the ${method} model agrees with the source on ${percent(accuracy.agreement!)} of ` +
      `${accuracy.rows} rows (${worst}), below the ${percent(accuracy.minAgreement)} required; nothing was written`,
    {
      code: 'OPTIMIZE_BELOW_AGREEMENT',
      details: {accuracy, file: project.file, method},
      exitCode: ExitCode.usage,
      suggestions: [
        method === 'int8'
          ? 'This model loses too much in int8: try --method fp16 or --method graph, which keep more precision.'
          : 'Try --method graph, which keeps float32.',
        'Check on your own held-out rows with --data FILE; lower the bar with --min-agreement, or write it anyway with --force.',
      ],
    },
  )
}

async function compareSpeed(
  models: {reference: {bytes: Uint8Array; session: Session}; candidate: {bytes: Uint8Array; session: Session}},
  project: ResolvedModel,
  data: GateData,
  settings: {device: 'cpu' | 'cuda'; intraOpThreads: number},
  options: SpeedOptions,
): Promise<SpeedComparison> {
  const {signature} = project
  const batchable = signature.inputs.every((spec) => spec.shape.length > 0 && typeof spec.shape[0] !== 'number')
  const batch = batchable ? THROUGHPUT_BATCH : 1
  const rows = Array.from({length: batch}, (_, i) => data.rows[i % data.rows.length]!)
  const one = feedsOf(signature.inputs, data.inputs, rows.slice(0, 1))
  const many = feedsOf(signature.inputs, data.inputs, rows)
  const [original, optimized] = await measureSpeed(
    [
      {batch: many, one, session: models.reference.session},
      {batch: many, one, session: models.candidate.session},
    ],
    options,
  )
  const now = options.now ?? (() => performance.now())
  const loadMs = async (bytes: Uint8Array) => {
    const times: number[] = []
    for (let i = 0; i < 3; i++) {
      const start = now()
      const session = await createSession(bytes, {...settings, what: 'the model'})
      times.push(now() - start)
      await session.release()
    }
    return median(times)
  }
  return {
    batch,
    optimized: {...optimized!, loadMs: await loadMs(models.candidate.bytes)},
    original: {...original!, loadMs: await loadMs(models.reference.bytes)},
  }
}

type Session = Awaited<ReturnType<typeof createSession>>

/** Where the new model goes, checked before any work is done. */
async function resolveTarget(project: ResolvedModel, options: OptimizeOptions): Promise<Target> {
  const modelRelative = path.relative(project.dir, project.modelPath)
  const inside = !modelRelative.startsWith('..') && !path.isAbsolute(modelRelative)
  if (options.inPlace) {
    if (options.out) {
      throw new ConfigError('--in-place and --out exclude each other: pass one of them', {code: 'USAGE'})
    }
    const parsed = path.parse(project.modelPath)
    const modelPath = path.join(parsed.dir, `${parsed.name}.${options.method}${parsed.ext || '.onnx'}`)
    if (existsSync(modelPath)) {
      throw new ConfigError(`${modelPath} already exists; mlship optimize --in-place does not overwrite a model file`, {
        code: 'OUTPUT_EXISTS',
        details: {file: modelPath},
        suggestions: ['Remove it first, or write a new model directory with --out DIR.'],
      })
    }
    return {dir: project.dir, file: project.file, modelPath, replaces: false}
  }
  const dir = path.resolve(options.out ?? `${project.dir}-${options.method}`)
  if (dir === project.dir) {
    throw new ConfigError(`--out ${dir} is the source model directory; use --in-place to write beside the source`, {
      code: 'USAGE',
    })
  }
  let replaces = false
  if (existsSync(dir)) {
    const entries = (await stat(dir)).isDirectory() ? await readdir(dir) : ['(a file)']
    if (entries.length > 0) {
      replaces = await madeFromThisSource(path.join(dir, 'model.yaml'), project.modelPath)
      if (!replaces) {
        throw new ConfigError(`${dir} exists and is not empty; mlship optimize writes a new model directory`, {
          code: 'OUTPUT_NOT_EMPTY',
          details: {dir},
          suggestions: [
            'Pass another --out DIR, or remove this one. A directory an earlier `mlship optimize` made from the ' +
              'same source model is replaced.',
          ],
        })
      }
    }
  }
  const file = inside ? modelRelative : path.basename(project.modelPath)
  return {dir, file: path.join(dir, 'model.yaml'), modelPath: path.join(dir, file), replaces}
}

async function madeFromThisSource(configFile: string, sourceModel: string): Promise<boolean> {
  try {
    const config = parseConfigText(await readFile(configFile, 'utf8'), configFile)
    const source = config.optimization?.source
    return source !== undefined && source.sha256 === (await sha256File(sourceModel))
  } catch {
    return false
  }
}

async function writeOutput(
  project: ResolvedModel,
  target: Target,
  model: Uint8Array,
  optimization: Optimization,
  inPlace: boolean,
): Promise<ModelFacts> {
  const text = await readFile(project.file, 'utf8')
  const doc = parseDocument(text)
  const config = project.config
  let name = config.name
  let version = config.version
  if (inPlace) {
    version = nextMinor(config.version)
    doc.set('version', version)
    doc.setIn(['model', 'file'], toPosix(path.relative(project.dir, target.modelPath)))
  } else {
    name = `${config.name}-${optimization.method}`
    doc.set('name', name)
    // Its own repository: pushing it can never replace a tag of the source model.
    if (config.registry) doc.setIn(['registry', 'repository'], `${config.registry.repository}-${optimization.method}`)
    const baselineSource = config.monitoring.baseline?.source
    if (baselineSource && !path.isAbsolute(baselineSource)) {
      doc.setIn(
        ['monitoring', 'baseline', 'source'],
        toPosix(path.relative(target.dir, path.resolve(project.dir, baselineSource))),
      )
    }
    doc.setIn(['model', 'file'], toPosix(path.relative(target.dir, target.modelPath)))
  }
  const node = new Document(optimization).contents!
  visit(node, {
    Map(_, map, ancestors) {
      if (ancestors.length > 1) map.flow = true
    },
  })
  doc.set('optimization', node)
  let updated = doc.toString({flowCollectionPadding: false, lineWidth: 0})
  if (!inPlace) updated = rebaseSchemaComment(updated, project.dir, target.dir)
  parseConfigText(updated, target.file)

  if (inPlace) {
    await writeFile(target.modelPath, model)
    await writeFile(target.file, updated)
  } else {
    // Written whole into a folder beside the target, then renamed: an interrupted run leaves no half model directory.
    const staging = `${target.dir}.partial-${randomBytes(4).toString('hex')}`
    try {
      await mkdir(path.dirname(path.join(staging, path.relative(target.dir, target.modelPath))), {recursive: true})
      await writeFile(path.join(staging, path.relative(target.dir, target.modelPath)), model)
      await writeFile(path.join(staging, 'model.yaml'), updated)
      if (target.replaces || existsSync(target.dir)) await rm(target.dir, {force: true, recursive: true})
      await rename(staging, target.dir)
    } catch (error) {
      await rm(staging, {force: true, recursive: true})
      throw error
    }
  }
  return {
    dir: target.dir,
    file: target.file,
    modelPath: target.modelPath,
    name,
    sha256: await sha256File(target.modelPath),
    sizeBytes: model.length,
    version,
  }
}

/** 1.2.3 -> 1.3.0 (a pre-release such as 1.2.3-rc.1 also goes to 1.3.0). */
export function nextMinor(version: string): string {
  const [major, minor] = version.split(/[.+-]/).map(Number)
  return `${major}.${(minor ?? 0) + 1}.0`
}

/** A relative `$schema=` path in the first comment still points at the schema from the new directory. */
function rebaseSchemaComment(text: string, from: string, to: string): string {
  return text.replace(/^(# yaml-language-server: \$schema=)(\.{1,2}\/\S+)$/m, (_, prefix: string, relative: string) => {
    return `${prefix}${toPosix(path.relative(to, path.resolve(from, relative)))}`
  })
}
