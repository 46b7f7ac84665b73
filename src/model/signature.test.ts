import path from 'node:path'
import {describe, expect, it} from 'vitest'

import type {Signature} from '../config/schema.js'
import {ModelError} from '../errors.js'
import {loadModelProject} from './load-model.js'
import {readModelSignature, resolveSignature} from './signature.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const fixture = (name: string) => path.join(repoRoot, 'test/fixtures/models', name)
const irisModel = path.join(repoRoot, 'examples/iris/model.onnx')

describe('readModelSignature', () => {
  it('reads the iris model: names, dtypes and the symbolic batch dimension', async () => {
    expect(await readModelSignature(irisModel)).toEqual({
      inputs: [{dtype: 'float32', name: 'features', shape: ['batch', 4]}],
      outputs: [{dtype: 'float32', name: 'probabilities', shape: ['batch', 3]}],
    })
  })

  it('reads several inputs and outputs of other types, with named and unnamed dynamic dimensions', async () => {
    expect(await readModelSignature(fixture('multi-io.onnx'))).toEqual({
      inputs: [
        {dtype: 'int64', name: 'ids', shape: ['batch', 'seq']},
        {dtype: 'bool', name: 'mask', shape: ['batch', -1]},
      ],
      outputs: [
        {dtype: 'int64', name: 'total', shape: ['batch', 1]},
        {dtype: 'bool', name: 'kept', shape: ['batch', -1]},
      ],
    })
  })

  it.each([
    ['missing.onnx', 'no such file'],
    ['not-onnx.onnx', 'not an ONNX model, or a truncated one (protobuf parsing failed)'],
    ['truncated.onnx', 'not an ONNX model, or a truncated one (protobuf parsing failed)'],
    [
      'unknown-op.onnx',
      'onnxruntime cannot load it: Fatal error: com.example:NoSuchOperator(-1) is not a registered function/op',
    ],
  ])('gives a one-line error naming the file and the cause for %s', async (name, cause) => {
    const error = await readModelSignature(fixture(name)).catch((error_: unknown) => error_)
    expect(error).toBeInstanceOf(ModelError)
    expect((error as ModelError).message).toBe(`${fixture(name)}: ${cause}`)
    expect((error as ModelError).message).not.toContain('\n')
    expect((error as ModelError).exitCode).toBe(2)
  })

  it('refuses a directory', async () => {
    await expect(readModelSignature(path.join(repoRoot, 'test/fixtures/models'))).rejects.toThrow('is a directory')
  })
})

describe('resolveSignature', () => {
  const context = {configFile: 'model.yaml', modelPath: 'model.onnx'}
  const fromModel: Signature = {
    inputs: [{dtype: 'float32', name: 'features', shape: ['batch', 4]}],
    outputs: [
      {dtype: 'float32', name: 'probabilities', shape: ['batch', 3]},
      {dtype: 'int64', name: 'label', shape: ['batch']},
    ],
  }

  it("uses the model's signature when model.yaml declares none", () => {
    expect(resolveSignature(fromModel, undefined, context)).toBe(fromModel)
  })

  it("keeps model.yaml's labels and adds the outputs it does not mention", () => {
    const declared: Signature = {
      inputs: [{dtype: 'float32', name: 'features', shape: ['n', 4]}],
      outputs: [{dtype: 'float32', labels: ['a', 'b', 'c'], name: 'probabilities', shape: ['n', 3]}],
    }
    const resolved = resolveSignature(fromModel, declared, context)
    expect(resolved.outputs.map((o) => o.name)).toEqual(['probabilities', 'label'])
    expect(resolved.outputs[0]).toMatchObject({labels: ['a', 'b', 'c']})
  })

  it('lets model.yaml fix a dynamic dimension but not change a fixed one', () => {
    const narrowed: Signature = {...fromModel, inputs: [{dtype: 'float32', name: 'features', shape: [1, 4]}]}
    expect(resolveSignature(fromModel, narrowed, context).inputs[0]?.shape).toEqual([1, 4])

    const changed: Signature = {...fromModel, inputs: [{dtype: 'float32', name: 'features', shape: ['batch', 5]}]}
    expect(() => resolveSignature(fromModel, changed, context)).toThrow(
      '[signature.inputs[0].shape[1]] "features" has size 4 on axis 1 in the model, 5 in model.yaml',
    )
  })

  it('names every mismatch: unknown name, dtype, rank, and a model input left out', () => {
    const declared: Signature = {
      inputs: [{dtype: 'float64', name: 'features', shape: ['batch']}],
      outputs: [{dtype: 'float32', name: 'scores', shape: ['batch', 3]}],
    }
    const error = (() => {
      try {
        resolveSignature(
          {...fromModel, inputs: [...fromModel.inputs, {dtype: 'int64', name: 'extra', shape: [1]}]},
          declared,
          context,
        )
      } catch (error_) {
        return error_ as ModelError
      }
    })()
    expect(error?.code).toBe('SIGNATURE_MISMATCH')
    const lines = error?.message.split('\n').slice(1)
    expect(lines).toEqual([
      '  [signature.inputs[0].dtype] "features" is float32 in the model, float64 in model.yaml',
      '  [signature.inputs[0].shape] "features" has rank 2 [batch, 4] in the model, rank 1 [batch] in model.yaml',
      `  [signature.inputs] the model's input "extra" is missing from model.yaml`,
      '  [signature.outputs[0].name] the model has no output "scores" (it has: probabilities, label)',
    ])
  })
})

describe('loadModelProject', () => {
  it('resolves the iris example with the signature from model.yaml', async () => {
    const project = await loadModelProject(path.join(repoRoot, 'examples/iris'))
    expect(project.signatureSource).toBe('model.yaml')
    expect(project.signature.inputs[0]?.example).toEqual([
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3, 5.2, 2.3],
    ])
  })
})
