import {cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import ort from 'onnxruntime-node'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {computeBaseline} from '../baseline/baseline.js'
import {loadConfig} from '../config/load.js'
import {MlshipError} from '../errors.js'
import {sha256File} from '../util/hash.js'
import {floatTensor, onnx} from './onnx-model.js'
import {nextMinor, optimizeModel, type OptimizeOptions} from './optimize.js'
import {savedByRuntime} from './runtime.js'
import {quantisationSensitiveModel, uniformRows, writeModelDir} from './test-support/models.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const digits = path.join(root, 'examples/digits-mlp')
const quickSpeed = {minCalls: 2, roundMs: 5, rounds: 1}
let work: string

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mlship-optimize-'))
})
afterEach(async () => {
  await rm(work, {force: true, recursive: true})
})

async function copyDigits(): Promise<string> {
  const dir = path.join(work, 'digits')
  await mkdir(dir)
  for (const file of ['model.onnx', 'model.yaml', 'train.csv']) await cp(path.join(digits, file), path.join(dir, file))
  return dir
}

async function refusal(promise: Promise<unknown>): Promise<MlshipError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(MlshipError)
  return error as MlshipError
}

describe('mlship optimize --method int8', () => {
  it('makes the digits example a quarter of its size and agrees on every held-out row', async () => {
    const dir = await copyDigits()
    const result = await optimizeModel({
      data: path.join(digits, 'test.csv'),
      dir,
      ignoreColumns: ['label'],
      method: 'int8',
      speed: quickSpeed,
    })

    expect(result.output.sizeBytes / result.source.sizeBytes).toBeLessThanOrEqual(0.35)
    expect((await stat(result.output.modelPath)).size).toBe(result.output.sizeBytes)
    expect(result.accuracy).toMatchObject({gated: true, passed: true, rows: 360})
    expect(result.accuracy.agreement).toBeGreaterThanOrEqual(0.99)
    expect(result.int8?.quantized.map((q) => q.shape)).toEqual([
      [64, 3072],
      [3072, 1024],
      [1024, 10],
    ])
    expect(result.speed?.batch).toBe(32)
    expect(result.speed?.optimized.rowsPerSecond).toBeGreaterThan(0)

    // The accuracy claim, checked here independently: both files in onnxruntime, argmax per held-out row.
    const rows = (await readFile(path.join(digits, 'test.csv'), 'utf8')).trim().split('\n').slice(1)
    const pixels = Float32Array.from(rows.flatMap((line) => line.split(',').slice(0, 64).map(Number)))
    const feeds = {pixels: new ort.Tensor('float32', pixels, [rows.length, 64])}
    const argmaxes = async (file: string) => {
      const session = await ort.InferenceSession.create(file)
      const p = (await session.run(feeds)).probabilities!.data as Float32Array
      await session.release()
      return rows.map((_, r) =>
        p.slice(r * 10, r * 10 + 10).reduce((best, v, i, all) => (v > all[best]! ? i : best), 0),
      )
    }
    const [before, after] = [await argmaxes(path.join(dir, 'model.onnx')), await argmaxes(result.output.modelPath)]
    const agreeing = before.filter((label, r) => label === after[r]).length
    expect(agreeing / rows.length).toBeGreaterThanOrEqual(0.99)
  })

  it("writes the pattern onnxruntime's CPU provider runs with integer kernels", async () => {
    const dir = await copyDigits()
    const result = await optimizeModel({dir, method: 'int8', speed: false})
    const written = onnx.ModelProto.decode(await readFile(result.output.modelPath))
    const ops = written.graph!.node!.map((node) => node.opType)
    expect(ops.filter((op) => op === 'MatMulInteger')).toHaveLength(3)
    expect(ops).not.toContain('Gemm')
    const weights = written.graph!.initializer!.filter((t) => t.dataType === 3)
    expect(weights.map((t) => t.dims!.map(Number))).toEqual([
      [64, 3072],
      [3072, 1024],
      [1024, 10],
    ])
    // One float32 scale per output column.
    const scales = written.graph!.initializer!.filter((t) => t.name!.endsWith('_scale'))
    expect(scales.map((t) => t.dims!.map(Number))).toEqual([[3072], [1024], [10]])

    const runtime = onnx.ModelProto.decode(
      await savedByRuntime(await readFile(result.output.modelPath), {device: 'cpu', level: 'extended', what: 'int8'}),
    )
    const fused = runtime.graph!.node!.map((node) => node.opType)
    expect(fused.filter((op) => op === 'DynamicQuantizeMatMul')).toHaveLength(3)
    expect(fused).not.toContain('MatMul')
  })

  it('refuses a model made to break under quantisation, with the agreement it measured, and writes nothing', async () => {
    const dir = path.join(work, 'sensitive')
    const {model, features, deadFeature} = quantisationSensitiveModel()
    const rows = uniformRows(3, 400, features, {low: -1, zero: [deadFeature]})
    await writeModelDir(dir, {classes: 3, features, model, name: 'sensitive', rows})
    await computeBaseline({data: path.join(dir, 'train.csv'), dir})

    const options: OptimizeOptions = {dir, method: 'int8', speed: false}
    const error = await refusal(optimizeModel(options))
    expect(error.exitCode).toBe(2)
    expect(error.code).toBe('OPTIMIZE_BELOW_AGREEMENT')
    const measured = (error.details.accuracy as {agreement: number}).agreement
    expect(measured).toBeLessThan(0.5)
    expect(error.message).toContain(`${(measured * 100).toFixed(2)}%`)
    expect(error.message).toContain('below the 99.00% required; nothing was written')
    expect(existsSync(`${dir}-int8`)).toBe(false)
    expect(await readdir(work)).toEqual(['sensitive'])

    // float16 keeps enough precision for the same model, and --force writes the int8 one, marked as forced.
    const fp16 = await optimizeModel({...options, method: 'fp16'})
    expect(fp16.accuracy.agreement).toBeGreaterThanOrEqual(0.99)
    const forced = await optimizeModel({...options, force: true})
    expect(forced.accuracy).toMatchObject({forced: true, passed: false})
    const {config} = await loadConfig(forced.output.dir)
    expect(config.optimization).toMatchObject({
      agreement: Number(forced.accuracy.agreement!.toPrecision(6)),
      forced: true,
      method: 'int8',
    })
  })

  it('quantises MatMul weights and Gemm with alpha, beta and a bias, and leaves what it cannot in float32', async () => {
    const dir = path.join(work, 'shapes')
    const {model, features} = quantisationSensitiveModel()
    // No outlier this time: an ordinary MLP through MatMul + Add, then a Gemm whose weight is computed at run time.
    const graph = model.graph!
    const firstWeight = graph.initializer!.find((t) => t.name === 'layer0.weight')!
    const values = new Float32Array(new Uint8Array(firstWeight.rawData!).buffer)
    for (let i = 0; i < values.length; i++) if (values[i] === 1000) values[i] = 0.5
    firstWeight.rawData = new Uint8Array(values.buffer)
    graph.node![0]!.attribute!.push(
      {f: 0.5, name: 'alpha', type: onnx.AttributeProto.AttributeType.FLOAT},
      {f: 2, name: 'beta', type: onnx.AttributeProto.AttributeType.FLOAT},
    )
    // A last MatMul whose weight comes out of a node (an Identity of an initializer): not a constant it can read.
    graph.node!.at(-1)!.output = ['p']
    graph.initializer!.push(floatTensor('eye', [3, 3], Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1])))
    graph.node!.push(
      {input: ['eye'], name: 'EyeCopy', opType: 'Identity', output: ['eye_copy']},
      {input: ['p', 'eye_copy'], name: 'Gram', opType: 'MatMul', output: ['y']},
    )
    await writeModelDir(dir, {
      classes: 3,
      features,
      model,
      name: 'shapes',
      rows: uniformRows(5, 50, features, {low: -1}),
    })
    await computeBaseline({data: path.join(dir, 'train.csv'), dir})

    const result = await optimizeModel({dir, method: 'int8', speed: false})
    expect(result.int8?.quantized.map((q) => q.node)).toEqual(['layer0/Gemm', 'layer1/Gemm'])
    expect(result.int8?.skipped).toEqual([{node: 'Gram', reason: 'its weight (input B) is not a constant initializer'}])
    expect(result.accuracy.agreement).toBeGreaterThanOrEqual(0.99)
    const y = result.accuracy.outputs.find((o) => o.name === 'y')!
    expect(y.max_abs_diff).toBeLessThan(0.05)
  })
})

describe('mlship optimize --method fp16', () => {
  it('halves the digits example, keeps float32 at the API and where the CPU has no float16 kernel', async () => {
    const dir = await copyDigits()
    const result = await optimizeModel({
      data: path.join(digits, 'test.csv'),
      dir,
      ignoreColumns: ['label'],
      method: 'fp16',
      speed: false,
    })
    expect(result.output.sizeBytes / result.source.sizeBytes).toBeGreaterThan(0.45)
    expect(result.output.sizeBytes / result.source.sizeBytes).toBeLessThan(0.55)
    expect(result.accuracy.agreement).toBe(1)
    expect(result.fp16?.float32Ops).toMatchObject({Gemm: 3})
    expect(result.notes.join(' ')).toContain('on this CPU float16 halves the file')

    const written = onnx.ModelProto.decode(await readFile(result.output.modelPath))
    const graph = written.graph!
    expect(graph.input!.map((i) => i.type!.tensorType!.elemType)).toEqual([1])
    expect(graph.output!.map((o) => o.type!.tensorType!.elemType)).toEqual([1])
    expect(graph.initializer!.filter((t) => t.dataType === 1)).toEqual([])
    // Explicit: onnxruntime inserts no cast of its own into the model as written.
    const runtime = onnx.ModelProto.decode(
      await savedByRuntime(await readFile(result.output.modelPath), {device: 'cpu', level: 'disabled', what: 'fp16'}),
    )
    const ours = new Set(graph.node!.map((node) => node.name))
    expect(runtime.graph!.node!.filter((node) => !ours.has(node.name))).toEqual([])
  })
})

describe('mlship optimize --method graph', () => {
  it("writes onnxruntime's offline-optimised graph, which agrees exactly enough to pass", async () => {
    const dir = await copyDigits()
    const result = await optimizeModel({dir, method: 'graph', speed: quickSpeed})
    const written = onnx.ModelProto.decode(await readFile(result.output.modelPath))
    expect(written.graph!.node!.map((node) => node.opType)).toContain('FusedGemm')
    expect(result.accuracy.agreement).toBe(1)
    expect(result.accuracy.outputs[0]!.max_abs_diff).toBeLessThan(1e-5)
    expect(result.speed?.original.loadMs).toBeGreaterThan(0)
  })
})

describe('the model directory mlship optimize writes', () => {
  it('is a model directory of its own: name, repository, provenance; the baseline source still resolves', async () => {
    const dir = await copyDigits()
    const yaml = await readFile(path.join(dir, 'model.yaml'), 'utf8')
    await writeFile(
      path.join(dir, 'model.yaml'),
      `${yaml}registry:\n  host: 127.0.0.1:5000\n  repository: team/digits\n`,
    )
    const created = new Date('2026-01-02T03:04:05Z')
    const result = await optimizeModel({created, dir, method: 'int8', speed: false})

    expect(result.output.dir).toBe(`${dir}-int8`)
    expect((await readdir(result.output.dir)).sort()).toEqual(['model.onnx', 'model.yaml'])
    const {config} = await loadConfig(result.output.dir)
    expect(config.name).toBe('digits-mlp-int8')
    expect(config.version).toBe('1.0.0')
    expect(config.registry?.repository).toBe('team/digits-int8')
    expect(config.monitoring.baseline?.source).toBe('../digits/train.csv')
    expect(config.optimization).toEqual({
      agreement: Number(result.accuracy.agreement!.toPrecision(6)),
      created: created.toISOString(),
      device: 'cpu',
      method: 'int8',
      onnxruntime: expect.any(String),
      outputs: [expect.objectContaining({argmax_agreement: expect.any(Number), name: 'probabilities'})],
      rows: 1002,
      source: {file: '../digits/model.onnx', sha256: await sha256File(path.join(dir, 'model.onnx')), version: '1.0.0'},
    })
    const written = await readFile(path.join(result.output.dir, 'model.yaml'), 'utf8')
    expect(written).toContain('# Heavy enough per request that dynamic batching pays')
    const schema = path.relative(result.output.dir, path.resolve(dir, '../../schema/model.schema.json'))
    expect(written.split('\n')[0]).toBe(`# yaml-language-server: $schema=${schema}`)
  })

  it('replaces a directory it made from the same source, and refuses any other', async () => {
    const dir = await copyDigits()
    const first = await optimizeModel({dir, method: 'graph', speed: false})
    const again = await optimizeModel({dir, method: 'graph', speed: false})
    expect(again.output.dir).toBe(first.output.dir)

    const other = path.join(work, 'other')
    await mkdir(other)
    await writeFile(path.join(other, 'notes.txt'), 'mine')
    const error = await refusal(optimizeModel({dir, method: 'graph', out: other, speed: false}))
    expect(error).toMatchObject({code: 'OUTPUT_NOT_EMPTY', exitCode: 2})
    expect(await readFile(path.join(other, 'notes.txt'), 'utf8')).toBe('mine')
  })

  it('--in-place writes the model beside the source and gives model.yaml a new minor version', async () => {
    const dir = await copyDigits()
    const result = await optimizeModel({dir, inPlace: true, method: 'int8', speed: false})
    expect(result.output.modelPath).toBe(path.join(dir, 'model.int8.onnx'))
    const {config} = await loadConfig(dir)
    expect(config).toMatchObject({model: {file: 'model.int8.onnx'}, name: 'digits-mlp', version: '1.1.0'})
    expect(config.optimization?.source).toMatchObject({file: 'model.onnx', version: '1.0.0'})
    expect(existsSync(path.join(dir, 'model.onnx'))).toBe(true)

    const error = await refusal(optimizeModel({dir, inPlace: true, method: 'int8', speed: false}))
    expect(error.code).toBe('OPTIMIZE_NOTHING')
  })

  it('reads weights kept in external data files and writes one self-contained model', async () => {
    const dir = path.join(work, 'external')
    const {model, features} = quantisationSensitiveModel()
    await writeModelDir(dir, {
      classes: 3,
      externalData: true,
      features,
      model,
      name: 'external',
      rows: uniformRows(4, 20, features),
    })
    await computeBaseline({data: path.join(dir, 'train.csv'), dir})
    const result = await optimizeModel({dir, method: 'graph', speed: false})
    expect(result.source.sizeBytes).toBe(
      (await stat(path.join(dir, 'model.onnx'))).size + (await stat(path.join(dir, 'model.onnx.data'))).size,
    )
    expect(await readdir(result.output.dir)).not.toContain('model.onnx.data')
    expect(result.accuracy.agreement).toBe(1)

    await rm(path.join(dir, 'model.onnx.data'))
    const error = await refusal(optimizeModel({dir, method: 'graph', speed: false}))
    expect(error.message).toMatch(/does not exist.*model\.onnx\.data/)
  })
})

describe('what mlship optimize refuses before doing any work', () => {
  it('--gpu where CUDA cannot be used: fails loudly, no fallback to the CPU', async () => {
    const dir = await copyDigits()
    const error = await refusal(optimizeModel({dir, gpu: true, method: 'fp16', speed: false}))
    expect(error.code).toBe('CUDA_UNAVAILABLE')
    expect(error.message).toContain('the --gpu flag')
    expect(existsSync(`${dir}-fp16`)).toBe(false)
  })

  it('--gpu with int8, which is a CPU method', async () => {
    const dir = await copyDigits()
    const error = await refusal(optimizeModel({dir, gpu: true, method: 'int8', speed: false}))
    expect(error).toMatchObject({code: 'USAGE', exitCode: 2})
    expect(error.suggestions.join(' ')).toContain('--method fp16 --gpu')
  })

  it('a model with nothing to check against', async () => {
    const dir = path.join(work, 'bare')
    const {model, features} = quantisationSensitiveModel()
    await writeModelDir(dir, {classes: 3, features, model, name: 'bare'})
    const error = await refusal(optimizeModel({dir, method: 'int8', speed: false}))
    expect(error).toMatchObject({code: 'OPTIMIZE_NO_DATA', exitCode: 2})
    expect(error.suggestions.join(' ')).toContain('--data')
  })

  it('--in-place with --out, and an agreement bar outside 0..1', async () => {
    const dir = await copyDigits()
    expect((await refusal(optimizeModel({dir, inPlace: true, method: 'int8', out: 'x'}))).exitCode).toBe(2)
    expect((await refusal(optimizeModel({dir, method: 'int8', minAgreement: 99}))).exitCode).toBe(2)
  })
})

describe('nextMinor', () => {
  it('bumps the minor version and drops a pre-release', () => {
    expect(nextMinor('1.0.0')).toBe('1.1.0')
    expect(nextMinor('2.9.3-rc.1')).toBe('2.10.0')
  })
})
