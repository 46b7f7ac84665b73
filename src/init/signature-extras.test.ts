import {describe, expect, it} from 'vitest'

import type {InputSpec, Signature} from '../config/schema.js'
import {classifierOutput, exampleRow, parseLabels} from './signature-extras.js'

const input = (dtype: InputSpec['dtype'], shape: InputSpec['shape']): InputSpec => ({dtype, name: 'x', shape})

describe('exampleRow', () => {
  it('is a row of zeros in the shape of the input, batch dimension 1', () => {
    expect(exampleRow(input('float32', ['batch', 4]))).toEqual([[0, 0, 0, 0]])
    expect(exampleRow(input('int64', ['n', 2, 2]))).toEqual([
      [
        [0, 0],
        [0, 0],
      ],
    ])
    expect(exampleRow(input('bool', [1, 2]))).toEqual([[false, false]])
  })

  it('is nothing for text, unknown sizes and inputs too large to read', () => {
    expect(exampleRow(input('string', ['batch', 1]))).toBeUndefined()
    expect(exampleRow(input('float32', ['batch', 'features']))).toBeUndefined()
    expect(exampleRow(input('float32', ['batch', 3, 224, 224]))).toBeUndefined()
  })
})

describe('classifierOutput', () => {
  it('finds the first output of floats shaped [batch, K]', () => {
    const signature: Signature = {
      inputs: [input('float32', ['batch', 4])],
      outputs: [
        {dtype: 'int64', name: 'label', shape: ['batch']},
        {dtype: 'float32', name: 'probabilities', shape: ['batch', 3]},
      ],
    }
    expect(classifierOutput(signature)).toMatchObject({classes: 3, index: 1})
    expect(classifierOutput({...signature, outputs: [{dtype: 'float32', name: 'y', shape: ['batch', 1]}]})).toBe(
      undefined,
    )
  })
})

describe('parseLabels', () => {
  it('wants one distinct label per class', () => {
    expect(parseLabels(' cat, dog ', 2)).toEqual(['cat', 'dog'])
    expect(parseLabels('cat', 2)).toBe('expected 2 labels, one per class, got 1')
    expect(parseLabels('cat, cat', 2)).toBe('two labels are the same')
  })
})
