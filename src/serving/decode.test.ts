import {describe, expect, it} from 'vitest'

import type {InputSpec, Signature} from '../config/schema.js'
import {decodeFlat, decodeNested, decodeSeedBody, decodeV2Body} from './decode.js'
import {RequestError} from './request-error.js'
import {fromFloat16Bits} from './tensors.js'

const limits = {maxBatchSize: 4}
const features: InputSpec = {dtype: 'float32', name: 'features', shape: ['batch', 4]}
const iris: Signature = {inputs: [features], outputs: [{dtype: 'float32', name: 'probabilities', shape: ['batch', 3]}]}
const multi: Signature = {
  inputs: [
    {dtype: 'float32', name: 'a', shape: ['batch', 'seq', 3]},
    {dtype: 'int64', name: 'b', shape: ['batch', 2]},
    {dtype: 'bool', name: 'mask', shape: ['batch', 'seq']},
  ],
  outputs: [{dtype: 'float32', name: 'total', shape: ['batch', 3]}],
}

function refusal(fn: () => unknown): RequestError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(RequestError)
    expect((error as RequestError).statusCode).toBe(400)
    return error as RequestError
  }
  throw new Error('expected a 400 refusal')
}

describe('decodeSeedBody', () => {
  it('decodes the seed contract into a float32 tensor of the right shape', () => {
    const feeds = decodeSeedBody(
      {
        features: [
          [0.5, 0.3, 0.8, 1],
          [0.2, 0.7, 0.4, 2],
        ],
      },
      iris,
      limits,
    )
    expect(feeds.features!.dims).toEqual([2, 4])
    expect(feeds.features!.dtype).toBe('float32')
    expect([...(feeds.features!.data as Float32Array)]).toEqual([0.5, 0.3, 0.8, 1, 0.2, 0.7, 0.4, 2].map(Math.fround))
  })

  it('takes {"inputs": {...}} for every model, and decodes int64 and bool', () => {
    const feeds = decodeSeedBody(
      {
        inputs: {
          a: [[[1, 2, 3]], [[4, 5, 6]]],
          b: [
            [1, '9007199254740993'],
            [-3, 4],
          ],
          mask: [[true], [false]],
        },
      },
      multi,
      limits,
    )
    expect(feeds.a!.dims).toEqual([2, 1, 3])
    expect([...(feeds.b!.data as BigInt64Array)]).toEqual([1n, 9_007_199_254_740_993n, -3n, 4n])
    expect([...(feeds.mask!.data as Uint8Array)]).toEqual([1, 0])
  })

  it.each([
    [{}, /expected \{"features": \[\[\.\.\.\], \.\.\.\]\}, got an object with keys \(none\)/],
    [[1, 2], /expected a JSON object .* got a list of 2/],
    ['text', /got "text" \(a string\)/],
    [{features: [[1, 2, 3, 4]], inputs: {}}, /either "features" or "inputs", not both/],
    [
      {features: [1, 2, 3, 4]},
      /input "features": expected rank 2 \(shape \[batch, 4\]\), got rank 1 \(shape \[4\]\); a single row must still be wrapped/,
    ],
    [{features: [[[1, 2, 3, 4]]]}, /expected rank 2 .* got more levels of nesting \(shape \[1, 1, 4, \.\.\.\]\)/],
    [{features: 5}, /expected rank 2 .* got 5 \(a number\)/],
    [
      {features: [[1, 2, 3]]},
      /input "features": expected shape \[batch, 4\], got \[1, 3\] \(axis 1 must be 4, not 3\)/,
    ],
    [
      {
        features: [
          [1, 2, 3, 4],
          [1, 2, 3],
        ],
      },
      /input "features": ragged array: element \[1\] has 3 entries, expected 4/,
    ],
    [{features: [[1, 2, 3, 4], 5]}, /ragged array: element \[1\] is 5 \(a number\), expected a list/],
    [{features: [[1, 2, 3, [4]]]}, /element \[0, 3\] is a list \(ragged array/],
    [
      {features: [[1, 2, 'x', 4]]},
      /input "features": element \[0, 2\] is "x" \(a string\), expected a finite number \(float32\)/,
    ],
    [{features: [[1, 2, null, 4]]}, /element \[0, 2\] is null, expected a finite number/],
    [{features: [[1, 2, true, 4]]}, /element \[0, 2\] is true \(a boolean\)/],
    [
      {features: [[1, 2, Number.POSITIVE_INFINITY, 4]]},
      /element \[0, 2\] is Infinity \(not a finite number\), expected a finite number/,
    ],
    [{features: [[1, 2, 1e39, 4]]}, /within the float32 range/],
    [{features: []}, /input "features": empty batch/],
    [
      {
        features: [
          [1, 2, 3, 4],
          [1, 2, 3, 4],
          [1, 2, 3, 4],
          [1, 2, 3, 4],
          [1, 2, 3, 4],
        ],
      },
      /batch of 5 rows is larger than the maximum of 4 \(serving.max_batch_size\)/,
    ],
  ])('refuses %j with a message that names the input and says expected vs got', (body, message) => {
    expect(refusal(() => decodeSeedBody(body, iris, limits)).message).toMatch(message)
  })

  it.each([
    [{features: [[[1, 2, 3]]]}, /"features" is for models with one input; this model has 3 \(a, b, mask\)/],
    [{inputs: {a: [[[1, 2, 3]]], b: [[1, 2]]}}, /missing input "mask" \(expected bool \[batch, seq\]\)/],
    [
      {inputs: {a: [[[1, 2, 3]]], b: [[1, 2]], mask: [[true]], extra: 1}},
      /unknown input "extra" \(the model's inputs are: a, b, mask\)/,
    ],
    [
      {inputs: {a: [[[1, 2, 3]]], b: [[1.5, 2]], mask: [[true]]}},
      /input "b": element \[0, 0\] is 1.5 \(a number\), expected an integer \(int64/,
    ],
    [{inputs: {a: [[[1, 2, 3]]], b: [[1, '99999999999999999999']], mask: [[true]]}}, /within the int64 range/],
    [
      {inputs: {a: [[[1, 2, 3]]], b: [[1, 2]], mask: [[1]]}},
      /input "mask": element \[0, 0\] is 1 \(a number\), expected true or false \(bool\)/,
    ],
    [
      {
        inputs: {
          a: [[[1, 2, 3]]],
          b: [
            [1, 2],
            [3, 4],
          ],
          mask: [[true]],
        },
      },
      /input "b": dimension "batch" \(axis 0\) is 2, but it is 1 in input "a"/,
    ],
    [
      {
        inputs: {
          a: [
            [
              [1, 2, 3],
              [1, 2, 3],
            ],
          ],
          b: [[1, 2]],
          mask: [[true]],
        },
      },
      /input "mask": dimension "seq" \(axis 1\) is 1, but it is 2 in input "a"/,
    ],
    [{inputs: [1]}, /"inputs" must be an object of input name -> nested array, got a list of 1/],
  ])('refuses multi-input body %j', (body, message) => {
    expect(refusal(() => decodeSeedBody(body, multi, limits)).message).toMatch(message)
  })
})

describe('element types', () => {
  const spec = (dtype: InputSpec['dtype']): InputSpec => ({dtype, name: 'x', shape: [2]})

  it('stores every integer type exactly and refuses values out of its range', () => {
    expect([...(decodeNested(spec('uint8'), [0, 255], limits).data as Uint8Array)]).toEqual([0, 255])
    expect([...(decodeNested(spec('int8'), [-128, 127], limits).data as Int8Array)]).toEqual([-128, 127])
    expect([...(decodeNested(spec('uint32'), [0, 4_294_967_295], limits).data as Uint32Array)]).toEqual([
      0, 4_294_967_295,
    ])
    expect([...(decodeNested(spec('uint64'), ['18446744073709551615', 1], limits).data as BigUint64Array)]).toEqual([
      2n ** 64n - 1n,
      1n,
    ])
    expect(refusal(() => decodeNested(spec('uint8'), [0, 256], limits)).message).toMatch(
      /element \[1\] is 256 .* expected an integer within the uint8 range \(0 to 255\)/,
    )
    expect(refusal(() => decodeNested(spec('uint64'), [-1, 1], limits)).message).toMatch(/within the uint64 range/)
    expect(refusal(() => decodeNested(spec('int16'), [1, '2'], limits)).message).toMatch(
      /"2" \(a string\), expected an integer \(int16\)/,
    )
  })

  it('stores float16 as half bits, rounded to nearest', () => {
    const data = decodeNested(spec('float16'), [1.5, -0.1], limits).data as Uint16Array
    expect(fromFloat16Bits(data[0]!)).toBe(1.5)
    expect(fromFloat16Bits(data[1]!)).toBeCloseTo(-0.1, 3)
    expect(refusal(() => decodeNested(spec('float16'), [1, 70_000], limits)).message).toMatch(/float16 range/)
  })

  it('takes strings for string inputs and a scalar for a rank-0 input', () => {
    expect(decodeNested(spec('string'), ['a', 'b'], limits).data).toEqual(['a', 'b'])
    expect(decodeNested({dtype: 'float64', name: 's', shape: []}, 2.5, limits)).toMatchObject({
      dims: [],
      data: new Float64Array([2.5]),
    })
    expect(refusal(() => decodeNested(spec('string'), ['a', 1], limits)).message).toMatch(/expected a string/)
  })

  it('refuses a missing input', () => {
    expect(refusal(() => decodeNested(features, undefined, limits)).message).toMatch(
      /input "features": missing \(expected float32 \[batch, 4\]\)/,
    )
  })
})

describe('decodeV2Body', () => {
  const outputs = ['probabilities']
  const body = (input: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    inputs: [{datatype: 'FP32', name: 'features', shape: [1, 4], ...input}],
    ...extra,
  })

  it('takes flat and nested data, row-major, and the outputs and id asked for', () => {
    const flat = decodeV2Body(
      body({data: [1, 2, 3, 4]}, {id: 'r1', outputs: [{name: 'probabilities'}]}),
      iris,
      limits,
      outputs,
    )
    const nested = decodeV2Body(body({data: [[1, 2, 3, 4]]}), iris, limits, outputs)
    expect(flat.feeds.features).toEqual(nested.feeds.features)
    expect(flat.id).toBe('r1')
    expect(flat.outputs).toEqual(['probabilities'])
  })

  it.each([
    [body({datatype: 'INT64', data: [1, 2, 3, 4]}), /input "features": expected datatype FP32 \(float32\), got INT64/],
    [
      body({datatype: 'FLOAT', data: [1, 2, 3, 4]}),
      /expected datatype FP32 \(float32\), got FLOAT \(not a KServe v2 datatype\)/,
    ],
    [body({data: [1, 2, 3]}), /input "features": shape \[1, 4\] needs 4 values, got 3/],
    [body({shape: [4], data: [1, 2, 3, 4]}), /expected rank 2 \(shape \[batch, 4\]\), got rank 1/],
    [body({shape: [1, 3], data: [1, 2, 3]}), /axis 1 must be 4, not 3/],
    [body({shape: [0, 4], data: []}), /empty batch/],
    [body({shape: [5, 4], data: Array.from({length: 20}, () => 1)}), /batch of 5 rows is larger than the maximum of 4/],
    [body({shape: 'x', data: [1, 2, 3, 4]}), /"shape" must be a list of non-negative integers/],
    [body({data: [1, 2, 'a', 4]}), /input "features": data\[2\] is "a" \(a string\), expected a finite number/],
    [body({data: 7}), /"data" must be a list/],
    [body({data: [[1, 2, 3], [4]]}), /input "features": ragged array: the top level has 2 entries, expected 1/],
    [body({data: [[1, 2, 3, [4]]]}), /element \[0, 3\] is a list/],
    [{inputs: []}, /missing input "features"/],
    [{inputs: [{name: 'nope', datatype: 'FP32', shape: [1], data: [1]}]}, /unknown input "nope"/],
    [
      {
        inputs: [
          {name: 'features', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4]},
          {name: 'features', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4]},
        ],
      },
      /input "features" is given twice/,
    ],
    [{inputs: {}}, /"inputs" must be a list/],
    [
      body({data: [1, 2, 3, 4]}, {outputs: [{name: 'label'}]}),
      /unknown output "label" \(the model's outputs are: probabilities\)/,
    ],
    [body({data: [1, 2, 3, 4]}, {id: 5}), /"id" must be a string/],
  ])('refuses %j', (request, message) => {
    expect(refusal(() => decodeV2Body(request, iris, limits, outputs)).message).toMatch(message)
  })

  it('refuses a hostile nesting depth cheaply, with a short message', () => {
    let deep: unknown = []
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(refusal(() => decodeV2Body(body({data: deep}), iris, limits, outputs)).message.length).toBeLessThan(200)
    expect(refusal(() => decodeSeedBody({features: deep}, iris, limits)).message.length).toBeLessThan(200)
  })

  it('checks a declared shape against the data before allocating it: [1, 1e11] is a 400, for BYTES too', () => {
    const text: InputSpec = {dtype: 'string', name: 'text', shape: ['batch', 'n']}
    const wide: InputSpec = {dtype: 'float32', name: 'x', shape: ['batch', 'n']}
    const v2 = (spec: InputSpec, shape: number[], data: unknown[]) =>
      decodeV2Body(
        {inputs: [{data, datatype: spec.dtype === 'string' ? 'BYTES' : 'FP32', name: spec.name, shape}]},
        {inputs: [spec], outputs: [{dtype: 'float32', name: 'y', shape: ['batch']}]},
        limits,
        ['y'],
      )
    expect(refusal(() => v2(text, [1, 1e11], ['a'])).message).toMatch(
      /shape \[1, 100000000000\] needs 100000000000 values, got 1/,
    )
    expect(refusal(() => v2(text, [1, 200_000_000], ['a'])).message).toMatch(/needs 200000000 values, got 1/)
    expect(refusal(() => v2(wide, [1, 1e11], [1])).message).toMatch(/needs 100000000000 values, got 1/)
    expect(refusal(() => v2(text, [1, 1e11], [['a']])).message).toMatch(
      /element \[0\] has 1 entries, expected 100000000000/,
    )
  })

  it('checks a nesting against the shape its first elements claim before allocating it', () => {
    // dims [3, 1e6, 1e6] from the first element at each level: 3e12 elements, in a value that holds a million.
    const row = new Array<number>(1_000_000).fill(0)
    const first = new Array<number[]>(1_000_000).fill(row)
    const spec: InputSpec = {dtype: 'float32', name: 'x', shape: ['batch', 'a', 'b']}
    expect(refusal(() => decodeNested(spec, [first, [], []], limits)).message).toMatch(
      /ragged array: element \[1\] has 0 entries, expected 1000000/,
    )
    expect(
      refusal(() =>
        decodeV2Body(
          {inputs: [{data: [first, [], []], datatype: 'FP32', name: 'x', shape: [3, 1_000_000, 1_000_000]}]},
          {inputs: [spec], outputs: [{dtype: 'float32', name: 'y', shape: ['batch']}]},
          limits,
          ['y'],
        ),
      ).message,
    ).toMatch(/ragged array: element \[1\] has 0 entries/)
  })

  it('refuses int64 JSON numbers beyond 2^53 (already rounded by the parser) and says to send strings', () => {
    const ids: InputSpec = {dtype: 'int64', name: 'ids', shape: ['batch', 2]}
    const body = JSON.parse('{"features": [[9007199254740993, 1]]}') as unknown
    expect(refusal(() => decodeSeedBody(body, {inputs: [ids], outputs: iris.outputs}, limits)).message).toMatch(
      /element \[0, 0\] is 9007199254740992 \(a number\), expected an exact integer: .* send 64-bit integers this large as strings/,
    )
    const exact = decodeSeedBody(
      {features: [['9007199254740993', 9_007_199_254_740_991]]},
      {inputs: [ids], outputs: iris.outputs},
      limits,
    )
    expect([...(exact.ids!.data as BigInt64Array)]).toEqual([9_007_199_254_740_993n, 9_007_199_254_740_991n])
    expect(
      refusal(() =>
        decodeV2Body(
          {inputs: [{data: [-9_007_199_254_740_992, 0], datatype: 'UINT64', name: 'u', shape: [1, 2]}]},
          {inputs: [{dtype: 'uint64', name: 'u', shape: ['batch', 2]}], outputs: iris.outputs},
          limits,
          ['probabilities'],
        ),
      ).message,
    ).toMatch(/data\[0\] is -9007199254740992 \(a number\), expected an exact integer/)
  })

  it('checks flat data against the declared shape for every dtype', () => {
    const t = decodeFlat({dtype: 'bool', name: 'm', shape: ['batch', 2]}, [2, 2], [true, false, false, true], limits)
    expect([...(t.data as Uint8Array)]).toEqual([1, 0, 0, 1])
  })
})
