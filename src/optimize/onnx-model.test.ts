import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {toFloat16Array, toFloat16Bits} from '../serving/tensors.js'
import {encodeOnnxModel, floatValues, nameNodes, onnx, readOnnxModel, uniqueNamer} from './onnx-model.js'
import {quantisationSensitiveModel, writeModelDir} from './test-support/models.js'

let work: string
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mlship-onnx-model-'))
})
afterEach(async () => {
  await rm(work, {force: true, recursive: true})
})

describe('readOnnxModel', () => {
  it('reads weights kept in an external data file into the model', async () => {
    const {model, features} = quantisationSensitiveModel()
    await writeModelDir(work, {classes: 3, externalData: true, features, model, name: 'm'})
    const loaded = await readOnnxModel(path.join(work, 'model.onnx'))
    expect(loaded.externalFiles).toEqual(['model.onnx.data'])
    const weight = loaded.model.graph!.initializer!.find((t) => t.name === 'layer0.weight')!
    expect(weight.dataLocation).toBe(onnx.TensorProto.DataLocation.DEFAULT)
    expect(floatValues(weight)).toEqual(floatValues(model.graph!.initializer!.find((t) => t.name === 'layer0.weight')!))
  })

  it('says which tensor wants which missing file, and refuses data outside the model folder', async () => {
    const {model, features} = quantisationSensitiveModel()
    await writeModelDir(work, {classes: 3, externalData: true, features, model, name: 'm'})
    await rm(path.join(work, 'model.onnx.data'))
    await expect(readOnnxModel(path.join(work, 'model.onnx'))).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
      message: expect.stringContaining('tensor "layer0.weight" keeps its data in model.onnx.data, which is missing'),
    })

    const escaping = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish())
    const tensor = escaping.graph!.initializer![0]!
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL
    tensor.externalData = [{key: 'location', value: '../../etc/passwd'}]
    await writeFile(path.join(work, 'escaping.onnx'), onnx.ModelProto.encode(escaping).finish())
    await expect(readOnnxModel(path.join(work, 'escaping.onnx'))).rejects.toThrow(/outside the model's folder/)
  })

  it('refuses a file that is not an ONNX model', async () => {
    await writeFile(path.join(work, 'not.onnx'), 'hello, this is text')
    await expect(readOnnxModel(path.join(work, 'not.onnx'))).rejects.toMatchObject({code: 'MODEL_INVALID'})
  })

  it('round-trips a model: what it writes decodes and encodes to the same bytes', () => {
    const {model} = quantisationSensitiveModel()
    const bytes = encodeOnnxModel(model, 'm')
    expect(Buffer.from(encodeOnnxModel(onnx.ModelProto.decode(bytes), 'm')).equals(Buffer.from(bytes))).toBe(true)
  })
})

describe('names', () => {
  it('gives unnamed and duplicate nodes unique names and keeps the others', () => {
    const graph = {
      node: [
        {name: 'a', opType: 'Relu'},
        {opType: 'Relu'},
        {name: 'a', opType: 'Abs'},
        {name: 'Relu_1', opType: 'Neg'},
      ],
    }
    nameNodes(graph)
    expect(graph.node.map((n) => n.name)).toEqual(['a', 'Relu_1', 'Abs_2', 'Neg_3'])
  })

  it('makes value names no node, value or initializer of the graph uses', () => {
    const unique = uniqueNamer({initializer: [{name: 'w'}], node: [{input: ['x', 'w'], output: ['w_1']}]})
    expect([unique('w'), unique('w'), unique('y')]).toEqual(['w_2', 'w_3', 'y'])
  })
})

describe('toFloat16Array', () => {
  it('gives the same bits as toFloat16Bits, value by value', () => {
    const values = Float32Array.from([0, -0, 1, -2.5, 0.1, 65_504, 70_000, 1e-8, 6e-5, Number.NaN, -Infinity, 2049])
    expect([...toFloat16Array(values)]).toEqual([...values].map((v) => toFloat16Bits(v)))
  })
})
