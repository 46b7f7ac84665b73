import {describe, expect, it} from 'vitest'

import {clientTypes} from './client-types.js'

describe('clientTypes', () => {
  it('types every input and output, tuples for small fixed dimensions, the labels as a union', () => {
    const types = clientTypes({
      name: 'multi',
      signature: {
        inputs: [
          {dtype: 'float32', name: 'a', shape: ['batch', 'seq', 3]},
          {dtype: 'int64', name: 'token-ids', shape: ['batch', 2]},
          {dtype: 'bool', name: 'mask', shape: ['batch', 'seq']},
        ],
        outputs: [
          {dtype: 'float32', labels: ['x', 'y'], name: 'scores', shape: ['batch', 2]},
          {dtype: 'string', name: 'names', shape: ['batch']},
        ],
      },
      version: '2.0.0',
    })
    expect(types).toContain('export type AInput = Array<Array<[number, number, number]>>')
    expect(types).toContain('export type TokenIdsInput = Array<[(number | string), (number | string)]>')
    expect(types).toContain('export type MaskInput = Array<Array<boolean>>')
    expect(types).toContain(
      'export interface PredictRequest {\n  inputs: {\n    a: AInput\n    "token-ids": TokenIdsInput\n    mask: MaskInput\n  }\n}',
    )
    expect(types).toContain('labels?: Array<"x" | "y">')
    expect(types).toContain('outputs: {\n    scores: ScoresOutput\n    names: NamesOutput\n  }')
    expect(types).toContain('{name: "token-ids"; datatype: "INT64"')
    expect(types).toContain('outputs?: Array<{name: "scores" | "names"}>')
  })
})
