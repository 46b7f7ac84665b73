import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {
  AttributeType,
  DataType,
  floatTensor,
  type ModelProto,
  type NodeProto,
  onnx,
  type TensorProto,
} from '../onnx-model.js'

/** A seeded generator (mulberry32) and a normal draw from it: test models are the same on every run. */
export function seededRandom(seed: number): {uniform: () => number; normal: () => number} {
  let state = seed >>> 0
  const uniform = () => {
    state = (state + 0x6d_2b_79_f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform())
  return {normal, uniform}
}

export interface DenseLayer {
  /** [inputs, outputs], row-major. */
  weights: Float32Array
  inputs: number
  outputs: number
  bias?: Float32Array
  relu?: boolean
}

export interface MlpModelOptions {
  features: number
  layers: DenseLayer[]
  /** Gemm with the weight stored transposed (as torch exports Linear), or MatMul + Add. */
  op?: 'gemm' | 'matmul'
  softmax?: boolean
  opset?: number
  input?: string
  output?: string
}

/** A float32 MLP as an ONNX model, written with onnx-proto: input [batch, features], output [batch, classes]. */
export function mlpModel(options: MlpModelOptions): ModelProto {
  const input = options.input ?? 'x'
  const output = options.output ?? 'y'
  const nodes: NodeProto[] = []
  const initializers: TensorProto[] = []
  let current = input
  for (const [i, layer] of options.layers.entries()) {
    const last = i === options.layers.length - 1
    const product = `layer${i}/out`
    const weight = `layer${i}.weight`
    const bias = `layer${i}.bias`
    if (options.op === 'matmul') {
      initializers.push(floatTensor(weight, [layer.inputs, layer.outputs], layer.weights))
      nodes.push({input: [current, weight], name: `layer${i}/MatMul`, opType: 'MatMul', output: [`${product}/mm`]})
      if (layer.bias) {
        initializers.push(floatTensor(bias, [layer.outputs], layer.bias))
        nodes.push({input: [`${product}/mm`, bias], name: `layer${i}/Add`, opType: 'Add', output: [product]})
      } else {
        nodes.at(-1)!.output = [product]
      }
    } else {
      const transposed = new Float32Array(layer.weights.length)
      for (let r = 0; r < layer.inputs; r++)
        for (let c = 0; c < layer.outputs; c++) transposed[c * layer.inputs + r] = layer.weights[r * layer.outputs + c]!
      initializers.push(floatTensor(weight, [layer.outputs, layer.inputs], transposed))
      const inputs = [current, weight]
      if (layer.bias) {
        initializers.push(floatTensor(bias, [layer.outputs], layer.bias))
        inputs.push(bias)
      }
      nodes.push({
        attribute: [{i: 1, name: 'transB', type: AttributeType.INT}],
        input: inputs,
        name: `layer${i}/Gemm`,
        opType: 'Gemm',
        output: [product],
      })
    }
    current = product
    if (layer.relu && !last) {
      nodes.push({input: [current], name: `layer${i}/Relu`, opType: 'Relu', output: [`${product}/relu`]})
      current = `${product}/relu`
    }
  }
  if (options.softmax) {
    nodes.push({
      attribute: [{i: 1, name: 'axis', type: AttributeType.INT}],
      input: [current],
      name: 'Softmax',
      opType: 'Softmax',
      output: [output],
    })
  } else {
    nodes.at(-1)!.output = [output]
  }
  const classes = options.layers.at(-1)!.outputs
  return onnx.ModelProto.create({
    graph: {
      initializer: initializers,
      input: [tensorInfo(input, options.features)],
      name: 'mlp',
      node: nodes,
      output: [tensorInfo(output, classes)],
    },
    irVersion: 8,
    opsetImport: [{domain: '', version: options.opset ?? 13}],
    producerName: 'mlship-tests',
  })
}

function tensorInfo(name: string, size: number) {
  return {name, type: {tensorType: {elemType: DataType.float, shape: {dim: [{dimParam: 'batch'}, {dimValue: size}]}}}}
}

export function randomLayer(
  random: ReturnType<typeof seededRandom>,
  inputs: number,
  outputs: number,
  options: {relu?: boolean; scale?: number; biasScale?: number} = {},
): DenseLayer {
  const scale = options.scale ?? Math.sqrt(2 / inputs)
  return {
    bias: Float32Array.from({length: outputs}, () => random.normal() * (options.biasScale ?? 0.1)),
    inputs,
    outputs,
    relu: options.relu ?? true,
    weights: Float32Array.from({length: inputs * outputs}, () => random.normal() * scale),
  }
}

/**
 * A classifier made to break under int8 quantisation: in every column of its first weight one value (the weight of a
 * feature that is always 0) is a thousand times the others. Per-channel quantisation takes its step from that
 * outlier, every other weight of the column rounds to zero, and the int8 model answers the same class for every row.
 * In float32 the outlier never contributes (its feature is 0), so the float model is an ordinary classifier.
 */
export function quantisationSensitiveModel(seed = 9): {model: ModelProto; features: number; deadFeature: number} {
  const random = seededRandom(seed)
  const features = 8
  const deadFeature = features - 1
  // No biases and features centred on 0 (uniformRows(..., {low: -1})): the float model spreads its answers over the
  // classes, and the collapsed int8 one answers the first class for every row.
  const first = randomLayer(random, features, 16, {biasScale: 0})
  for (let column = 0; column < first.outputs; column++) first.weights[deadFeature * first.outputs + column] = 1000
  const second = randomLayer(random, 16, 3, {biasScale: 0, relu: false})
  return {deadFeature, features, model: mlpModel({features, layers: [first, second], softmax: true})}
}

export interface ModelDirOptions {
  name: string
  model: ModelProto
  features: number
  classes: number
  /** Rows for train.csv (and the model.yaml example); with it, the test writes a baseline with `mlship baseline`. */
  rows?: number[][]
  /** Keep the weights in model.onnx.data beside the model (ONNX external data). */
  externalData?: boolean
  extraYaml?: string
}

/** A model directory: model.onnx, model.yaml with labels (and an example), and train.csv when rows are given. */
export async function writeModelDir(dir: string, options: ModelDirOptions): Promise<void> {
  await mkdir(dir, {recursive: true})
  const model = onnx.ModelProto.decode(onnx.ModelProto.encode(options.model).finish())
  if (options.externalData) await externalise(model, dir)
  await writeFile(path.join(dir, 'model.onnx'), onnx.ModelProto.encode(model).finish())
  const labels = Array.from({length: options.classes}, (_, i) => `"c${i}"`).join(', ')
  const example = options.rows ? `\n      example: [${JSON.stringify(options.rows[0])}]` : ''
  await writeFile(
    path.join(dir, 'model.yaml'),
    [
      '# yaml-language-server: $schema=../schema/model.schema.json',
      `name: ${options.name}`,
      'version: 1.0.0',
      'model:',
      '  file: model.onnx',
      'signature:',
      '  inputs:',
      `    - name: x`,
      '      dtype: float32',
      `      shape: [batch, ${options.features}]${example}`,
      '  outputs:',
      '    - name: y',
      '      dtype: float32',
      `      shape: [batch, ${options.classes}]`,
      `      labels: [${labels}]`,
      options.extraYaml ?? '',
    ].join('\n'),
  )
  if (options.rows) {
    const header = Array.from({length: options.features}, (_, i) => `f${i}`).join(',')
    await writeFile(path.join(dir, 'train.csv'), [header, ...options.rows.map((row) => row.join(','))].join('\n'))
  }
}

/** Moves every initializer's bytes into model.onnx.data, as onnx.save(..., save_as_external_data=True) does. */
async function externalise(model: ModelProto, dir: string): Promise<void> {
  const chunks: Uint8Array[] = []
  let offset = 0
  for (const tensor of model.graph!.initializer ?? []) {
    const data = tensor.rawData ?? new Uint8Array()
    chunks.push(data)
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL
    tensor.externalData = [
      {key: 'location', value: 'model.onnx.data'},
      {key: 'offset', value: String(offset)},
      {key: 'length', value: String(data.length)},
    ]
    tensor.rawData = new Uint8Array()
    offset += data.length
  }
  await writeFile(path.join(dir, 'model.onnx.data'), Buffer.concat(chunks))
}

/** Rows of uniform features in [low, 1), with `zero` features always 0. */
export function uniformRows(
  seed: number,
  count: number,
  features: number,
  options: {zero?: number[]; low?: number} = {},
): number[][] {
  const random = seededRandom(seed)
  const low = options.low ?? 0
  return Array.from({length: count}, () =>
    Array.from({length: features}, (_, i) =>
      options.zero?.includes(i) ? 0 : Number((low + random.uniform() * (1 - low)).toFixed(4)),
    ),
  )
}
