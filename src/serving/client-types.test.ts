import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import type {Signature} from '../config/schema.js'
import {clientTypes} from './client-types.js'
import {typeErrors} from './test-support/typecheck.js'

/**
 * An image, a text (whose attention mask the server fills) and a tensor in, class scores with postprocess: out, as
 * fixtures/preprocess/image-text has.
 */
const IMAGE_TEXT: Signature = {
  inputs: [
    {
      dtype: 'float32',
      name: 'image',
      preprocess: {
        image: {color: 'rgb', interpolation: 'bilinear', max_pixels: 1_000_000, resize: 'stretch', scale: 1 / 255},
      },
      shape: ['batch', 3, 8, 8],
    },
    {
      dtype: 'int64',
      name: 'input_ids',
      preprocess: {
        text: {add_special_tokens: true, padding: 'max_length', tokenizer: 'tokenizer.json', truncation: true},
      },
      shape: ['batch', 12],
    },
    {dtype: 'int64', name: 'attention_mask', shape: ['batch', 12]},
    {dtype: 'float32', name: 'bias', shape: ['batch', 1]},
  ],
  outputs: [
    {
      dtype: 'float32',
      labels: ['red', 'green', 'blue'],
      name: 'scores',
      postprocess: {softmax: true, top_k: 2},
      shape: ['batch', 3],
    },
  ],
}

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

  it('types an input that declares preprocess: as what the server takes (strings), without the inputs it fills, the classes of postprocess: and the fields of an experiment', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-client-types-'))
    try {
      await writeFile(
        path.join(dir, 'model.d.ts'),
        clientTypes({name: 'image-and-text', signature: IMAGE_TEXT, version: '0.0.1'}),
      )
      const client = path.join(dir, 'client.ts')
      await writeFile(
        client,
        [
          "import type {PredictRequest, PredictResponse, V2InferRequest, V2InferResponse} from './model.js'",
          'declare const answer: PredictResponse',
          'declare const v2answer: V2InferResponse',
          '// With an experiment (model.yaml experiment:), the variant that answered and the id POST /feedback takes.',
          'const variant: string | undefined = answer.variant',
          'const requestId: string | undefined = answer.request_id',
          'const v2variant: string | undefined = v2answer.variant',
          "const best: 'red' | 'green' | 'blue' | undefined = answer.label",
          'const second: number = answer.classes[0]!.top_k[1]!.score',
          "const one: PredictRequest = {inputs: {bias: [[0.5]], image: 'data:image/png;base64,iVBO', input_ids: 'Not bad.'}}",
          "const rows: PredictRequest = {inputs: {bias: [[0.5], [1]], image: ['iVBO', 'iVBO'], input_ids: ['a', 'b']}}",
          'const v2: V2InferRequest = {',
          '  inputs: [',
          "    {data: ['iVBO'], datatype: 'BYTES', name: 'image', shape: [1]},",
          "    {data: ['Not bad.'], datatype: 'BYTES', name: 'input_ids', shape: [1, 1]},",
          "    {data: [0.5], datatype: 'FP32', name: 'bias', shape: [1, 1]},",
          '  ],',
          '}',
          '// @ts-expect-error: the server fills attention_mask from the text',
          "const filled: PredictRequest = {inputs: {attention_mask: [[1]], bias: [[0.5]], image: 'iVBO', input_ids: 'a'}}",
          '// @ts-expect-error: the server makes the image tensor; it does not take one',
          "const tensor: PredictRequest = {inputs: {bias: [[0.5]], image: [[[[0]]]], input_ids: 'a'}}",
          'export {best, filled, one, requestId, rows, second, tensor, v2, v2variant, variant}',
          '',
        ].join('\n'),
      )
      expect(typeErrors(client)).toEqual([])
    } finally {
      await rm(dir, {force: true, recursive: true})
    }
  })
})
