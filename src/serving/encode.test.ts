import {describe, expect, it} from 'vitest'

import {flatJson, nestedJson, rowLabels} from './encode.js'
import {fromFloat16Bits, toFloat16Bits} from './tensors.js'

describe('tensor -> JSON', () => {
  it('nests like the shape and prints float32 values exactly as onnxruntime made them', () => {
    const data = Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    const json = nestedJson({data, dims: [2, 3], dtype: 'float32'})
    expect(JSON.parse(json)).toEqual([[...data.slice(0, 3)], [...data.slice(3)]])
    expect(flatJson({data, dims: [2, 3], dtype: 'float32'})).toBe(JSON.stringify([...data]))
    expect(nestedJson({data: Float64Array.from([2.5]), dims: [], dtype: 'float64'})).toBe('2.5')
  })

  it('writes int64 beyond 2^53 as exact strings, non-finite floats as null, bools as booleans', () => {
    expect(nestedJson({data: BigInt64Array.from([1n, -(2n ** 63n)]), dims: [2], dtype: 'int64'})).toBe(
      '[1,"-9223372036854775808"]',
    )
    expect(
      nestedJson({data: Float32Array.from([Number.NaN, Number.POSITIVE_INFINITY, 1]), dims: [3], dtype: 'float32'}),
    ).toBe('[null,null,1]')
    expect(nestedJson({data: Uint8Array.from([1, 0]), dims: [1, 2], dtype: 'bool'})).toBe('[[true,false]]')
    expect(nestedJson({data: ['a"b'], dims: [1], dtype: 'string'})).toBe('["a\\"b"]')
  })

  it('gives the argmax label of each row, or the label of a class index', () => {
    const spec = {dtype: 'float32' as const, labels: ['a', 'b', 'c'], name: 'p', shape: ['batch', 3]}
    expect(
      rowLabels({data: Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.1, 0.4]), dims: [2, 3], dtype: 'float32'}, spec),
    ).toEqual(['b', 'a'])
    const classes = {dtype: 'int64' as const, labels: ['a', 'b'], name: 'label', shape: ['batch']}
    expect(rowLabels({data: BigInt64Array.from([1n, 0n]), dims: [2], dtype: 'int64'}, classes)).toEqual(['b', 'a'])
    expect(rowLabels({data: BigInt64Array.from([7n]), dims: [1], dtype: 'int64'}, classes)).toBeUndefined()
    expect(rowLabels({data: Float32Array.from([1, 2]), dims: [1, 2], dtype: 'float32'}, spec)).toBeUndefined()
  })
})

describe('float16', () => {
  it('round-trips every half value through its bits', () => {
    const wrong: number[] = []
    for (let bits = 0; bits < 0x1_00_00; bits++) {
      const value = fromFloat16Bits(bits)
      // +0 and -0 keep their sign bit; NaN has many encodings.
      if (!Number.isNaN(value) && toFloat16Bits(value) !== bits) wrong.push(bits)
    }
    expect(wrong).toEqual([])
  })

  it('rounds to nearest even like numpy', () => {
    expect(fromFloat16Bits(toFloat16Bits(0.1))).toBe(0.0999755859375)
    expect(fromFloat16Bits(toFloat16Bits(2049))).toBe(2048)
    expect(fromFloat16Bits(toFloat16Bits(2051))).toBe(2052)
    expect(fromFloat16Bits(toFloat16Bits(1e-8))).toBe(0)
    expect(fromFloat16Bits(toFloat16Bits(70000))).toBe(Number.POSITIVE_INFINITY)
  })
})
