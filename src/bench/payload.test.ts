import {describe, expect, it} from 'vitest'

import type {Signature} from '../config/schema.js'
import {payloadsFromSignature} from './payload.js'

const iris: Signature = {
  inputs: [{dtype: 'float32', example: [[5.1, 3.5, 1.4, 0.2]], name: 'features', shape: ['batch', 4]}],
  outputs: [{dtype: 'float32', name: 'probabilities', shape: ['batch', 3]}],
}

describe('payloads', () => {
  it('uses the example of model.yaml in the seed contract, tiled to --batch-size', () => {
    expect(payloadsFromSignature(iris).bodies).toEqual(['{"features":[[5.1,3.5,1.4,0.2]]}'])
    const tiled = JSON.parse(payloadsFromSignature(iris, {batchSize: 3}).bodies[0]!) as {features: number[][]}
    expect(tiled.features).toHaveLength(3)
    expect(tiled.features[2]).toEqual([5.1, 3.5, 1.4, 0.2])
  })

  it('generates valid random tensors from the signature: dtypes, fixed and dynamic dimensions, several inputs', () => {
    const signature: Signature = {
      inputs: [
        {dtype: 'float32', name: 'x', shape: ['batch', 2, 3]},
        {dtype: 'int64', name: 'ids', shape: [-1, 'seq']},
        {dtype: 'bool', name: 'mask', shape: [1]},
      ],
      outputs: [{dtype: 'float32', name: 'y', shape: ['batch']}],
    }
    const payloads = payloadsFromSignature(signature, {batchSize: 4, count: 8})
    expect(payloads.bodies).toHaveLength(8)
    expect(new Set(payloads.bodies).size).toBe(8)
    const body = JSON.parse(payloads.bodies[0]!) as {inputs: {x: number[][][]; ids: number[][]; mask: boolean[]}}
    expect(body.inputs.x).toHaveLength(4)
    expect(body.inputs.x[0]).toHaveLength(2)
    expect(body.inputs.x[0]![0]).toHaveLength(3)
    expect(body.inputs.x.flat(2).every((v) => typeof v === 'number' && v >= 0 && v < 1)).toBe(true)
    expect(body.inputs.ids).toHaveLength(4)
    expect(body.inputs.ids.flat().every((v) => Number.isInteger(v))).toBe(true)
    expect(typeof body.inputs.mask[0]).toBe('boolean')
  })
})
