import ort from 'onnxruntime-node'
import {describe, expect, it} from 'vitest'

import {convertFloat16, convertToFloat16, float16Islands} from './float16.js'
import {
  AttributeType,
  DataType,
  encodeOnnxModel,
  int64,
  type ModelProto,
  nameNodes,
  type NodeProto,
  onnx,
} from './onnx-model.js'
import {savedByRuntime, valueElementTypes} from './runtime.js'

const info = (name: string, elemType: number = DataType.float) => ({
  name,
  type: {tensorType: {elemType, shape: {dim: [{dimParam: 'batch'}, {dimValue: 4}]}}},
})

/**
 * x -> Mul(x, Constant 2) -> Relu -> Cast(to float) -> Softmax -> Add(ConstantOfShape(Shape(x))) -> y: a float
 * constant attribute, a Cast to float, a ConstantOfShape without value and an int64 path, all of which must change
 * type in a float16 graph.
 */
function attributeModel(): ModelProto {
  const node = (opType: string, input: string[], output: string[], attribute: NodeProto['attribute'] = []) => ({
    attribute,
    input,
    name: opType,
    opType,
    output,
  })
  const model = onnx.ModelProto.create({
    graph: {
      input: [info('x')],
      name: 'attributes',
      node: [
        node('Constant', [], ['two'], [{f: 2, name: 'value_float', type: AttributeType.FLOAT}]),
        node('Mul', ['x', 'two'], ['doubled']),
        node('Relu', ['doubled'], ['positive']),
        node('Cast', ['positive'], ['cast'], [{i: DataType.float, name: 'to', type: AttributeType.INT}]),
        node('Softmax', ['cast'], ['soft'], [{i: 1, name: 'axis', type: AttributeType.INT}]),
        node('Shape', ['x'], ['shape']),
        node('ConstantOfShape', ['shape'], ['zeros']),
        node('Add', ['soft', 'zeros'], ['y']),
      ],
      output: [info('y')],
    },
    irVersion: 8,
    opsetImport: [{domain: '', version: 13}],
  })
  return model
}

async function run(model: ModelProto, x: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(encodeOnnxModel(model, 'test'))
  try {
    return (await session.run({x: new ort.Tensor('float32', x, [x.length / 4, 4])})).y!.data as Float32Array
  } finally {
    await session.release()
  }
}

describe('convertFloat16', () => {
  it('retypes float attributes and constants, casts at the float32 edges, and still computes the same', async () => {
    const model = attributeModel()
    const types = await valueElementTypes(model, {device: 'cpu'})
    const {model: half} = convertFloat16(model, types, new Set())
    const nodes = new Map(half.graph!.node!.map((n) => [n.name, n]))

    const constant = nodes.get('Constant')!.attribute!
    expect(constant.map((a) => [a.name, a.t?.dataType])).toEqual([['value', DataType.float16]])
    expect(int64(nodes.get('Cast')!.attribute![0]!.i)).toBe(DataType.float16)
    expect(nodes.get('ConstantOfShape')!.attribute![0]!.t!.dataType).toBe(DataType.float16)
    expect(half.graph!.input![0]!.type!.tensorType!.elemType).toBe(DataType.float)
    expect(half.graph!.output![0]!.type!.tensorType!.elemType).toBe(DataType.float)
    const casts = half.graph!.node!.filter((n) => n.opType === 'Cast' && n.name !== 'Cast')
    expect(casts.map((n) => [n.input![0], n.output![0], int64(n.attribute![0]!.i)])).toEqual([
      ['x', 'x/float16', DataType.float16],
      ['y/float16', 'y', DataType.float],
    ])

    const x = Float32Array.from([0.5, -1, 2, 0.25, 3, 1, -2, 0])
    const [expected, actual] = [await run(model, x), await run(half, x)]
    for (const [i, value] of expected.entries()) expect(actual[i]).toBeCloseTo(value, 2)
  })

  it('keeps the nodes it is told to in float32, with casts around them', async () => {
    const model = attributeModel()
    const types = await valueElementTypes(model, {device: 'cpu'})
    const {model: mixed} = convertFloat16(model, types, new Set(['Softmax']))
    const byOutput = new Map(mixed.graph!.node!.map((n) => [n.output![0], n]))
    const softmax = mixed.graph!.node!.find((n) => n.name === 'Softmax')!
    expect(byOutput.get(softmax.input![0])).toMatchObject({opType: 'Cast', input: ['cast']})
    const add = mixed.graph!.node!.find((n) => n.name === 'Add')!
    expect(add.input).toEqual(['soft/float16', 'zeros'])
    expect(await run(mixed, Float32Array.from([1, 2, 3, 4]))).toHaveLength(4)
  })
})

describe('float16Islands', () => {
  it('moves a float16 node whose neighbours are all float32 into float32 with them', async () => {
    const model = attributeModel()
    const types = await valueElementTypes(model, {device: 'cpu'})
    expect(float16Islands(model, types, new Set(['Mul', 'Cast']))).toEqual(['Relu'])
    // Reading from a graph input and writing to float32 is an island too; reading a float16 neighbour is not.
    expect(float16Islands(model, types, new Set(['Relu']))).toEqual(['Mul'])
    expect(float16Islands(model, types, new Set(['Mul']))).toEqual([])
  })
})

describe('convertToFloat16 on the CPU', () => {
  it('asks onnxruntime which nodes have a float16 kernel: the model it writes needs no cast of onnxruntime', async () => {
    const model = attributeModel()
    nameNodes(model.graph!)
    const result = await convertToFloat16(model, {device: 'cpu'}, 'attributes')
    // onnxruntime 1.30's CPU provider: float16 Relu and Cast, float32 Mul, Softmax and Add (x86).
    expect(result.float32Ops).toMatchObject({Mul: 1, Softmax: 1})
    const ours = new Set(result.model.graph!.node!.map((n) => n.name))
    const runtime = onnx.ModelProto.decode(
      await savedByRuntime(encodeOnnxModel(result.model, 'test'), {device: 'cpu', level: 'disabled', what: 'test'}),
    )
    expect(runtime.graph!.node!.filter((n) => !ours.has(n.name))).toEqual([])
  })
})
