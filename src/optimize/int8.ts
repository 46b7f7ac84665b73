import {ModelError} from '../errors.js'
import {
  AttributeType,
  DataType,
  defaultOpset,
  dimsOf,
  floatAttribute,
  floatTensor,
  floatValues,
  int8Tensor,
  intAttribute,
  type ModelProto,
  type NodeProto,
  onnx,
  type TensorProto,
  uniqueNamer,
} from './onnx-model.js'

/**
 * Weights are quantised symmetrically to [-64, 64] (7 bits of magnitude), as onnxruntime's quantisation tool does
 * with reduce_range: onnxruntime's u8 x s8 kernels on x86 CPUs without VNNI sum pairs of 8-bit products into 16 bits
 * (vpmaddubsw), and 255 * 64 * 2 is the largest pair that cannot saturate there. The agreement measured here then
 * holds on every CPU the model may be served on, not just on one with VNNI.
 */
export const INT8_WEIGHT_LEVELS = 64

// DynamicQuantizeLinear (the run-time quantisation of activations) exists from opset 11.
const MIN_OPSET = 11

export interface QuantizedNode {
  node: string
  op: 'MatMul' | 'Gemm'
  weight: string
  /** The weight as the integer product sees it: [K, N], one scale per column N. */
  shape: [number, number]
}

export interface Int8Result {
  model: ModelProto
  quantized: QuantizedNode[]
  /** MatMul and Gemm nodes left in float32, and why. */
  skipped: Array<{node: string; reason: string}>
}

interface QuantizedWeight {
  values: string
  scales: string
  shape: [number, number]
}

/**
 * Dynamic int8 quantisation of the MatMul and Gemm nodes whose weight (B) is a constant 2-D float32 tensor: the
 * weight is stored as int8 with one float32 scale per output column, and each such node becomes the standard ONNX
 * pattern
 *
 *     DynamicQuantizeLinear(A) -> MatMulInteger(A_q, W_q, A_zero_point) -> Cast(float) -> Mul(A_scale * W_scales)
 *     [-> Add(bias) for a Gemm with C]
 *
 * which onnxruntime's CPU provider fuses at load into DynamicQuantizeMatMul (one integer GEMM with the scales and the
 * bias applied on its output). Activations are quantised at run time, per call, to uint8. Every other node is left
 * as it is.
 */
export function quantizeInt8(source: ModelProto, where: string): Int8Result {
  const opset = defaultOpset(source)
  if (opset < MIN_OPSET) {
    throw new ModelError(
      `${where}: the model imports ONNX opset ${opset}; int8 quantisation needs opset ${MIN_OPSET} or later ` +
        '(DynamicQuantizeLinear)',
      {
        code: 'OPTIMIZE_UNSUPPORTED',
        details: {file: where, opset},
        suggestions: [
          'Export the model again with opset_version=13 or later (torch.onnx.export(..., opset_version=13)).',
        ],
      },
    )
  }
  const model = onnx.ModelProto.decode(onnx.ModelProto.encode(source).finish())
  const graph = model.graph!
  const unique = uniqueNamer(graph)
  const initializers = new Map((graph.initializer ?? []).map((tensor) => [tensor.name ?? '', tensor]))
  // An initializer that is also a graph input can be overridden at run time: it is not a constant weight.
  const overridable = new Set((graph.input ?? []).map((input) => input.name ?? ''))
  const weights = new Map<string, QuantizedWeight>()
  const quantized: QuantizedNode[] = []
  const skipped: Int8Result['skipped'] = []
  const nodes: NodeProto[] = []

  const constantWeight = (name: string): TensorProto | undefined => {
    const tensor = initializers.get(name)
    return tensor && !overridable.has(name) ? tensor : undefined
  }

  for (const node of graph.node ?? []) {
    const op = node.opType
    if ((op !== 'MatMul' && op !== 'Gemm') || (node.domain && node.domain !== 'ai.onnx')) {
      nodes.push(node)
      continue
    }
    const name = node.name ?? ''
    const weight = constantWeight(node.input?.[1] ?? '')
    const reason = unsupported(node, weight, constantWeight)
    if (reason) {
      skipped.push({node: name, reason})
      nodes.push(node)
      continue
    }
    const transposed = op === 'Gemm' && intAttribute(node, 'transB', 0) === 1
    const alpha = op === 'Gemm' ? floatAttribute(node, 'alpha', 1) : 1
    const key = `${weight!.name ?? ''}|${transposed}|${alpha}`
    let q = weights.get(key)
    if (!q) {
      const made = quantizeWeight(weight!, transposed, alpha, unique)
      graph.initializer!.push(
        int8Tensor(made.values, made.shape, made.int8),
        floatTensor(made.scales, [made.shape[1]], made.scaleValues),
      )
      q = {scales: made.scales, shape: made.shape, values: made.values}
      weights.set(key, q)
    }
    nodes.push(...integerPattern(node, q, unique, initializers, graph.initializer!))
    quantized.push({node: name, op, shape: q.shape, weight: weight!.name ?? ''})
  }

  graph.node = nodes
  removeUnused(graph)
  return {model, quantized, skipped}
}

function unsupported(
  node: NodeProto,
  weight: TensorProto | undefined,
  constantWeight: (name: string) => TensorProto | undefined,
): string | undefined {
  if (!weight) return 'its weight (input B) is not a constant initializer'
  if (weight.dataType !== DataType.float) return 'its weight is not float32'
  if (dimsOf(weight).length !== 2) return `its weight has ${dimsOf(weight).length} dimensions, not 2`
  if (node.opType === 'Gemm') {
    if (intAttribute(node, 'transA', 0) === 1) return 'it transposes A (transA=1)'
    const bias = node.input?.[2]
    const beta = floatAttribute(node, 'beta', 1)
    if (bias && beta !== 1 && !constantWeight(bias)) return 'its bias C is computed and scaled (beta != 1)'
  }
  return undefined
}

function quantizeWeight(
  weight: TensorProto,
  transposed: boolean,
  alpha: number,
  unique: (wanted: string) => string,
): QuantizedWeight & {int8: Int8Array; scaleValues: Float32Array} {
  const [rows, columns] = dimsOf(weight) as [number, number]
  // Stored as [K, N]: MatMul's B is [K, N]; a Gemm with transB=1 holds it as [N, K].
  const k = transposed ? columns : rows
  const n = transposed ? rows : columns
  const values = floatValues(weight)
  // Two passes in storage order (the weights can be hundreds of megabytes): the largest magnitude of each output
  // column, then the levels.
  const largest = new Float32Array(n)
  for (let i = 0; i < values.length; i++) {
    const column = transposed ? Math.floor(i / columns) : i % columns
    const magnitude = Math.abs(values[i]!)
    if (magnitude > largest[column]!) largest[column] = magnitude
  }
  const steps = largest.map((value) => (value > 0 ? value / INT8_WEIGHT_LEVELS : 1))
  const int8 = new Int8Array(k * n)
  for (let i = 0; i < values.length; i++) {
    const row = Math.floor(i / columns)
    const column = i % columns
    // Row-major [K, N] whatever the storage: a transposed weight's row is an output column.
    const [kk, nn] = transposed ? [column, row] : [row, column]
    const level = Math.round(values[i]! / steps[nn]!)
    int8[kk * n + nn] = Math.max(-INT8_WEIGHT_LEVELS, Math.min(INT8_WEIGHT_LEVELS, level))
  }
  // Gemm's alpha scales the product: it folds into the column scales exactly.
  const scales = steps.map((step) => step * alpha)
  const base = weight.name ?? 'weight'
  return {
    int8,
    scaleValues: scales,
    scales: unique(`${base}_scale`),
    shape: [k, n],
    values: unique(`${base}_quantized`),
  }
}

function integerPattern(
  node: NodeProto,
  weight: QuantizedWeight,
  unique: (wanted: string) => string,
  initializers: Map<string, TensorProto>,
  initializerList: TensorProto[],
): NodeProto[] {
  const name = node.name ?? node.opType ?? 'node'
  const input = node.input![0]!
  const output = node.output![0]!
  const value = (suffix: string) => unique(`${name}/${suffix}`)
  const [quantizedInput, inputScale, inputZeroPoint] = [value('A_quantized'), value('A_scale'), value('A_zero_point')]
  const [integerProduct, floatProduct, scale] = [value('product_int32'), value('product_float'), value('scale')]
  const bias =
    node.opType === 'Gemm' ? gemmBias(node, weight.shape[1], unique, initializers, initializerList) : undefined
  const scaled = bias ? value('scaled') : output
  const nodes: NodeProto[] = [
    {
      input: [input],
      name: unique(`${name}/DynamicQuantizeLinear`),
      opType: 'DynamicQuantizeLinear',
      output: [quantizedInput, inputScale, inputZeroPoint],
    },
    {
      input: [quantizedInput, weight.values, inputZeroPoint],
      name: unique(`${name}/MatMulInteger`),
      opType: 'MatMulInteger',
      output: [integerProduct],
    },
    {
      attribute: [{i: DataType.float, name: 'to', type: AttributeType.INT}],
      input: [integerProduct],
      name: unique(`${name}/Cast`),
      opType: 'Cast',
      output: [floatProduct],
    },
    {input: [inputScale, weight.scales], name: unique(`${name}/ScaleMul`), opType: 'Mul', output: [scale]},
    {input: [floatProduct, scale], name: unique(`${name}/OutputMul`), opType: 'Mul', output: [scaled]},
  ]
  if (bias) nodes.push({input: [scaled, bias], name: unique(`${name}/AddBias`), opType: 'Add', output: [output]})
  return nodes
}

/**
 * The bias of a Gemm as the Add after the integer product takes it: beta * C, folded into a new initializer when C
 * is constant (a 1-D [N] one, which onnxruntime fuses into DynamicQuantizeMatMul, when C has one value per column).
 */
function gemmBias(
  node: NodeProto,
  columns: number,
  unique: (wanted: string) => string,
  initializers: Map<string, TensorProto>,
  initializerList: TensorProto[],
): string | undefined {
  const name = node.input?.[2]
  if (!name) return undefined
  const beta = floatAttribute(node, 'beta', 1)
  const constant = initializers.get(name)
  if (!constant || constant.dataType !== DataType.float) return name
  const dims = dimsOf(constant)
  const perColumn = dims.reduce((a, b) => a * b, 1) === columns && dims.at(-1) === columns
  if (beta === 1 && perColumn && dims.length === 1) return name
  const values = floatValues(constant).map((v) => v * beta)
  const folded = unique(`${name}_bias`)
  initializerList.push(floatTensor(folded, perColumn ? [columns] : dims, values))
  return folded
}

/** Drops initializers no node reads any more (the float32 weights that were quantised). */
function removeUnused(graph: NonNullable<ModelProto['graph']>): void {
  const read = new Set<string>()
  const visit = (g: NonNullable<ModelProto['graph']>) => {
    for (const node of g.node ?? []) {
      for (const input of node.input ?? []) read.add(input)
      for (const a of node.attribute ?? []) {
        if (a.g) visit(a.g)
        for (const sub of a.graphs ?? []) visit(sub)
      }
    }
    for (const output of g.output ?? []) read.add(output.name ?? '')
  }
  visit(graph)
  graph.initializer = (graph.initializer ?? []).filter((tensor) => read.has(tensor.name ?? ''))
}
