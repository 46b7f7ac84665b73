import {toFloat16Array} from '../serving/tensors.js'
import {ModelError} from '../errors.js'
import {
  AttributeType,
  type AttributeProto,
  bytesOf,
  DataType,
  dimsOf,
  encodeOnnxModel,
  floatValues,
  hasSubgraphs,
  int64,
  type ModelProto,
  nameNodes,
  type NodeProto,
  onnx,
  type TensorProto,
  uniqueNamer,
} from './onnx-model.js'
import {type RuntimeOptions, savedByRuntime, valueElementTypes} from './runtime.js'

/**
 * Operators that stay in float32 whatever the runtime offers: their float inputs or outputs are float32 by the ONNX
 * specification or by an attribute (Resize and Upsample scales, Range, the random generators, the quantisation
 * operators, NonMaxSuppression), so a float16 tensor there is not a valid model.
 */
const FLOAT32_BY_SPECIFICATION = new Set([
  'Bernoulli',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'EyeLike',
  'Multinomial',
  'NonMaxSuppression',
  'QuantizeLinear',
  'RandomNormal',
  'RandomNormalLike',
  'RandomUniform',
  'RandomUniformLike',
  'Range',
  'Resize',
  'Upsample',
])

// The largest finite float16.
const FLOAT16_MAX = 65_504

// The probe converges in one or two rounds (the second finds nodes whose inputs the first moved to float32).
const MAX_PROBE_ROUNDS = 4

export interface Float16Result {
  model: ModelProto
  /** Operator types computing in float16, with their node counts. */
  float16Ops: Record<string, number>
  /** Operator types kept in float32 (no float16 kernel on the device, or float32 by specification). */
  float32Ops: Record<string, number>
  /** Weights beyond float16's range (65504), written as +-65504. */
  clamped: number
}

/**
 * Float16 weights and computation, float32 at the API edges (a Cast after each float32 input, before each float32
 * output), and float32 kept, with explicit casts around them, for the operators the device's onnxruntime provider
 * has no float16 kernel for. Which those are is asked of onnxruntime itself: the all-float16 model is loaded with
 * optimisations off, and the nodes onnxruntime wraps in casts of its own (it runs them in float32) are the ones
 * kept in float32. On a CPU without float16 arithmetic that is nearly every operator: the weights are stored in half
 * the bytes and the arithmetic stays float32.
 */
export async function convertToFloat16(
  source: ModelProto,
  options: RuntimeOptions,
  where: string,
): Promise<Float16Result> {
  if (hasSubgraphs(source.graph!)) {
    throw new ModelError(`${where}: float16 conversion of models with subgraphs (If, Loop, Scan) is not supported`, {
      code: 'OPTIMIZE_UNSUPPORTED',
      details: {file: where},
      suggestions: ['Use --method int8 or --method graph for this model.'],
    })
  }
  const model = onnx.ModelProto.decode(onnx.ModelProto.encode(source).finish())
  nameNodes(model.graph!)
  const types = await valueElementTypes(model, options)
  const keep = new Set(
    (model.graph!.node ?? [])
      .filter((node) => float32BySpecification(node) || floatToFloatCast(node, types))
      .map((node) => node.name ?? ''),
  )
  let conversion = convertFloat16(model, types, keep)
  for (let round = 0; round < MAX_PROBE_ROUNDS; round++) {
    const saved = onnx.ModelProto.decode(
      await savedByRuntime(encodeOnnxModel(conversion.model, where), {
        ...options,
        level: 'disabled',
        what: 'the float16 model',
      }),
    )
    const runtimeFloat32 = [...float32NodesInRuntimeGraph(conversion, saved)].filter((name) => !keep.has(name))
    if (runtimeFloat32.length === 0) break
    for (const name of runtimeFloat32) keep.add(name)
    conversion = convertFloat16(model, types, keep)
  }
  const islands = float16Islands(model, types, keep)
  if (islands.length > 0) {
    for (const name of islands) keep.add(name)
    conversion = convertFloat16(model, types, keep)
  }
  return {
    clamped: conversion.clamped,
    float16Ops: countOps(model, (node) => !keep.has(node.name ?? '')),
    float32Ops: countOps(model, (node) => keep.has(node.name ?? '')),
    model: conversion.model,
  }
}

/**
 * Float16 nodes that would only add casts: every float value they read comes from float32 (a node kept in float32,
 * or a graph input) and every float value they write goes only to float32. Running them in float16 gains nothing
 * and rounds their values twice; they join their neighbours in float32. Repeated until nothing changes.
 */
export function float16Islands(
  model: ModelProto,
  types: ReadonlyMap<string, number>,
  keep: ReadonlySet<string>,
): string[] {
  const graph = model.graph!
  const float32 = new Set(keep)
  const initializers = new Set((graph.initializer ?? []).map((tensor) => tensor.name ?? ''))
  const graphOutputs = new Set((graph.output ?? []).map((output) => output.name ?? ''))
  const producers = new Map<string, NodeProto>()
  const consumers = new Map<string, NodeProto[]>()
  for (const node of graph.node ?? []) {
    for (const output of node.output ?? []) producers.set(output, node)
    for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node])
  }
  const isFloat = (value: string) => types.get(value) === DataType.float
  const inFloat32 = (node: NodeProto | undefined) => !node || float32.has(node.name ?? '')
  const found: string[] = []
  for (let changed = true; changed;) {
    changed = false
    for (const node of graph.node ?? []) {
      const name = node.name ?? ''
      if (float32.has(name)) continue
      // Weights (initializers, Constant nodes) are no neighbours: they are stored in float16 either way.
      const reads = (node.input ?? []).filter(
        (input) => input && isFloat(input) && !initializers.has(input) && producers.get(input)?.opType !== 'Constant',
      )
      const writes = (node.output ?? []).filter((output) => isFloat(output))
      if (reads.length === 0 || writes.length === 0) continue
      const fromFloat32 = reads.every((input) => inFloat32(producers.get(input)))
      const toFloat32 = writes.every(
        (output) => graphOutputs.has(output) || (consumers.get(output) ?? []).every((c) => float32.has(c.name ?? '')),
      )
      if (fromFloat32 && toFloat32) {
        float32.add(name)
        found.push(name)
        changed = true
      }
    }
  }
  return found
}

/**
 * A Cast from float32 to float32 (an exporter's no-op) would become one from float16 to float16, which onnxruntime's
 * cast insertion mishandles (it retypes the Cast's output): it stays float32, between casts of ours.
 */
function floatToFloatCast(node: NodeProto, types: ReadonlyMap<string, number>): boolean {
  const to = int64(node.attribute?.find((a) => a.name === 'to')?.i)
  return node.opType === 'Cast' && to === DataType.float && types.get(node.input?.[0] ?? '') === DataType.float
}

function float32BySpecification(node: NodeProto): boolean {
  const domain = node.domain ?? ''
  return (domain !== '' && domain !== 'ai.onnx') || FLOAT32_BY_SPECIFICATION.has(node.opType ?? '')
}

function countOps(model: ModelProto, include: (node: NodeProto) => boolean): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const node of model.graph!.node ?? []) {
    if (!include(node)) continue
    const op = node.opType ?? ''
    counts[op] = (counts[op] ?? 0) + 1
  }
  return counts
}

export interface Float16Conversion {
  model: ModelProto
  /** The element type of every value of the converted graph that was float32 in the source. */
  floatTypes: Map<string, number>
  /** Names of the nodes of the source graph (kept or converted). */
  sourceNodes: Set<string>
  clamped: number
}

/**
 * One conversion, given the element types of the source's values and the nodes to keep in float32 (by name; every
 * node must have a unique name).
 */
export function convertFloat16(
  source: ModelProto,
  types: ReadonlyMap<string, number>,
  keep: ReadonlySet<string>,
): Float16Conversion {
  const model = onnx.ModelProto.decode(onnx.ModelProto.encode(source).finish())
  const graph = model.graph!
  const unique = uniqueNamer(graph)
  const sourceTypes = new Map(types)
  const isFloat = (value: string) => sourceTypes.get(value) === DataType.float
  const half = (node: NodeProto) => !keep.has(node.name ?? '')
  const sourceNodes = new Set((graph.node ?? []).map((node) => node.name ?? ''))
  const producers = new Map<string, NodeProto>()
  const consumers = new Map<string, NodeProto[]>()
  for (const node of graph.node ?? []) {
    for (const output of node.output ?? []) producers.set(output, node)
    for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node])
  }

  // A float32 graph output that a float16 node computes: the node writes a float16 value, and a Cast makes the
  // output the API promises.
  const edgeCasts: NodeProto[] = []
  for (const output of graph.output ?? []) {
    const name = output.name ?? ''
    const producer = producers.get(name)
    if (!isFloat(name) || !producer || !half(producer)) continue
    const renamed = unique(`${name}/float16`)
    for (const node of graph.node ?? []) {
      node.input = (node.input ?? []).map((input) => (input === name ? renamed : input))
      node.output = (node.output ?? []).map((out) => (out === name ? renamed : out))
    }
    producers.set(renamed, producer)
    sourceTypes.set(renamed, DataType.float)
    edgeCasts.push(castNode(unique, renamed, name, DataType.float))
  }

  const graphInputs = new Set((graph.input ?? []).map((input) => input.name ?? ''))
  const floatTypes = new Map<string, number>()
  let clamped = 0
  for (const tensor of graph.initializer ?? []) {
    const name = tensor.name ?? ''
    if (tensor.dataType !== DataType.float || graphInputs.has(name)) continue
    const readers = consumers.get(name) ?? []
    if (readers.length > 0 && readers.every((node) => float32BySpecification(node))) continue
    clamped += toFloat16Tensor(tensor)
    floatTypes.set(name, DataType.float16)
  }

  const typeOf = (value: string): number => {
    const known = floatTypes.get(value)
    if (known !== undefined) return known
    const producer = producers.get(value)
    return producer && half(producer) ? DataType.float16 : DataType.float
  }
  const casts = new Map<string, string>()
  const nodes: NodeProto[] = []
  for (const node of graph.node ?? []) {
    const wanted = half(node) ? DataType.float16 : DataType.float
    node.input = (node.input ?? []).map((input) => {
      if (!input || !isFloat(input) || typeOf(input) === wanted) return input
      const key = `${input}|${wanted}`
      let cast = casts.get(key)
      if (!cast) {
        cast = unique(`${input}/${wanted === DataType.float16 ? 'float16' : 'float32'}`)
        nodes.push(castNode(unique, input, cast, wanted))
        casts.set(key, cast)
        floatTypes.set(cast, wanted)
      }
      return cast
    })
    if (half(node)) clamped += retypeAttributes(node)
    nodes.push(node)
    for (const output of node.output ?? []) {
      if (isFloat(output)) floatTypes.set(output, typeOf(output))
    }
  }
  graph.node = [...nodes, ...edgeCasts]
  for (const info of graph.valueInfo ?? []) {
    const type = floatTypes.get(info.name ?? '')
    if (type !== undefined && info.type?.tensorType) info.type.tensorType.elemType = type
  }
  return {clamped, floatTypes, model, sourceNodes}
}

function castNode(unique: (wanted: string) => string, input: string, output: string, to: number): NodeProto {
  return {
    attribute: [{i: to, name: 'to', type: AttributeType.INT}],
    input: [input],
    name: unique(`${output}/Cast`),
    opType: 'Cast',
    output: [output],
  }
}

/** Float attributes of a node that computes in float16: Cast targets, Constant and ConstantOfShape values. */
function retypeAttributes(node: NodeProto): number {
  let clamped = 0
  const attributes: AttributeProto[] = []
  for (const attribute of node.attribute ?? []) {
    if (node.opType === 'Cast' && attribute.name === 'to' && int64(attribute.i) === DataType.float) {
      attributes.push({...attribute, i: DataType.float16})
    } else if (attribute.t && attribute.t.dataType === DataType.float) {
      clamped += toFloat16Tensor(attribute.t)
      attributes.push(attribute)
    } else if (node.opType === 'Constant' && attribute.name === 'value_float') {
      const tensor: TensorProto = {dataType: DataType.float, dims: [], floatData: [attribute.f ?? 0]}
      clamped += toFloat16Tensor(tensor)
      attributes.push({name: 'value', t: tensor, type: AttributeType.TENSOR})
    } else if (node.opType === 'Constant' && attribute.name === 'value_floats') {
      const tensor: TensorProto = {
        dataType: DataType.float,
        dims: [attribute.floats?.length ?? 0],
        floatData: attribute.floats ?? [],
      }
      clamped += toFloat16Tensor(tensor)
      attributes.push({name: 'value', t: tensor, type: AttributeType.TENSOR})
    } else {
      attributes.push(attribute)
    }
  }
  // ConstantOfShape without a value fills float32 zeros: a float16 one needs its zero said.
  if (node.opType === 'ConstantOfShape' && !attributes.some((a) => a.name === 'value')) {
    attributes.push({
      name: 'value',
      t: {dataType: DataType.float16, dims: [1], rawData: new Uint8Array(2)},
      type: AttributeType.TENSOR,
    })
  }
  node.attribute = attributes
  return clamped
}

/** Rewrites a float32 tensor as float16 in place; returns how many values were beyond float16's range. */
function toFloat16Tensor(tensor: TensorProto): number {
  const values = floatValues(tensor)
  let clamped = 0
  for (let i = 0; i < values.length; i++) {
    if (Math.abs(values[i]!) > FLOAT16_MAX) {
      clamped++
      values[i] = Math.sign(values[i]!) * FLOAT16_MAX
    }
  }
  const bits = toFloat16Array(values)
  tensor.dataType = DataType.float16
  tensor.rawData = bytesOf(bits)
  tensor.floatData = []
  tensor.dims = dimsOf(tensor)
  return clamped
}

/**
 * The nodes of a converted model that onnxruntime runs in float32 anyway: in the graph it writes back (optimisations
 * off), the casts it inserted itself (Cast nodes with names the converted model does not have) that lead from float16
 * to float32 start regions of nodes it moved to float32, which end at its casts back to float16. Nodes of the source
 * missing from its graph were expanded into their function bodies, which onnxruntime does only for an operator it has
 * no kernel for at that element type.
 */
export function float32NodesInRuntimeGraph(conversion: Float16Conversion, saved: ModelProto): Set<string> {
  const ours = new Set((conversion.model.graph!.node ?? []).map((node) => node.name ?? ''))
  const runtimeNodes = saved.graph!.node ?? []
  const inserted = new Set(
    runtimeNodes.filter((node) => node.opType === 'Cast' && !ours.has(node.name ?? '')).map((node) => node.name ?? ''),
  )
  const consumers = new Map<string, NodeProto[]>()
  for (const node of runtimeNodes)
    for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), node])
  const queue = runtimeNodes
    .filter((node) => inserted.has(node.name ?? '') && castTarget(node) === DataType.float)
    .flatMap((node) => node.output ?? [])
  const inRegion = new Set<string>()
  while (queue.length > 0) {
    const value = queue.pop()!
    for (const node of consumers.get(value) ?? []) {
      const name = node.name ?? ''
      // A cast (onnxruntime's back to float16, or one of the model's) ends the region.
      if (node.opType === 'Cast' || inRegion.has(name)) continue
      inRegion.add(name)
      for (const output of node.output ?? []) {
        const type = conversion.floatTypes.get(output)
        // A value of the converted model that was not float there (an index, a shape) does not carry the region.
        if (type !== undefined || !ours.has(name)) queue.push(output)
      }
    }
  }
  const present = new Set(runtimeNodes.map((node) => node.name ?? ''))
  const result = new Set<string>()
  for (const node of conversion.model.graph!.node ?? []) {
    const name = node.name ?? ''
    if (!conversion.sourceNodes.has(name)) continue
    // onnxruntime turns Constant nodes into initializers: absent, but not for want of a kernel.
    if (inRegion.has(name) || (!present.has(name) && node.opType !== 'Constant')) result.add(name)
  }
  return result
}

function castTarget(node: NodeProto): number {
  return int64(node.attribute?.find((a) => a.name === 'to')?.i)
}
