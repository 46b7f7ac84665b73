import {describe, expect, it} from 'vitest'

import {signatureSchema} from '../config/schema.js'
import {planPreprocessing} from './plan.js'

function signature(inputs: unknown[], outputs: unknown[] = [{dtype: 'float32', name: 'y', shape: ['batch', 3]}]) {
  return signatureSchema.parse({inputs, outputs})
}

const image = (shape: unknown[], image: Record<string, unknown> = {}, dtype = 'float32') => ({
  dtype,
  name: 'pixels',
  preprocess: {image},
  shape,
})

describe('planPreprocessing', () => {
  it('is undefined for a signature without preprocess: or postprocess:', () => {
    expect(planPreprocessing(signature([{dtype: 'float32', name: 'x', shape: ['batch', 4]}]))).toBeUndefined()
  })

  it('reads the layout, size and channels of an image input from its shape', () => {
    const nchw = planPreprocessing(signature([image(['batch', 3, 224, 200], {mean: [0.5], std: [0.2, 0.3, 0.4]})]))!
    expect(nchw.images[0]).toMatchObject({
      channels: 3,
      height: 224,
      layout: 'NCHW',
      mean: [0.5, 0.5, 0.5],
      std: [0.2, 0.3, 0.4],
      width: 200,
    })
    expect(nchw.tensorInputs).toEqual([])
    const nhwc = planPreprocessing(signature([image([1, 28, 32, 1], {color: 'grayscale'})]))!
    expect(nhwc.images[0]).toMatchObject({channels: 1, height: 28, layout: 'NHWC', width: 32})
  })

  it('refuses what cannot be an image, naming the key', () => {
    expect(() => planPreprocessing(signature([image(['batch', 3, 'h', 'w'])]))).toThrow(
      'model.yaml: [signature.inputs[0].preprocess.image] input "pixels": the image\'s height and width must be fixed numbers in the shape, not [batch, 3, h, w]',
    )
    expect(() => planPreprocessing(signature([image(['batch', 3, 8, 8], {color: 'grayscale'})]))).toThrow(
      'color: grayscale makes 1 channel(s), but the NCHW shape [batch, 3, 8, 8] has 3',
    )
    expect(() => planPreprocessing(signature([image(['batch', 3, 8, 8], {mean: [1, 2]})]))).toThrow(
      'mean has 2 values; give 1 or 3 (one per channel)',
    )
    expect(() => planPreprocessing(signature([image(['batch', 3, 224, 200], {shorter_side: 200})]))).toThrow(
      'shorter_side 200 is smaller than the 224x200 crop cut from it; give at least 224 (or leave it out)',
    )
    expect(() => planPreprocessing(signature([image(['batch', 3, 8, 8], {}, 'int64')]))).toThrow(
      'an image becomes float32, float64, float16, uint8, not int64',
    )
  })

  it('finds the mask inputs of a text input by their conventional names, and leaves the rest to tensors', () => {
    const plan = planPreprocessing(
      signature([
        {dtype: 'int64', name: 'input_ids', preprocess: {text: {tokenizer: 'tokenizer.json'}}, shape: ['batch', 16]},
        {dtype: 'int64', name: 'attention_mask', shape: ['batch', 16]},
        {dtype: 'float32', name: 'extra', shape: ['batch', 2]},
      ]),
    )!
    expect(plan.texts[0]).toMatchObject({attentionMask: 'attention_mask', maxLength: 16, tokenTypeIds: undefined})
    expect(plan.tensorInputs.map((spec) => spec.name)).toEqual(['extra'])
  })

  it('needs max_length for a dynamic sequence, and refuses one that disagrees with a fixed one', () => {
    const text = (shape: unknown[], options: Record<string, unknown> = {}) =>
      signature([{dtype: 'int64', name: 'ids', preprocess: {text: {tokenizer: 't.json', ...options}}, shape}])
    expect(() => planPreprocessing(text(['batch', 'sequence']))).toThrow(
      'input "ids": the sequence length is dynamic ([batch, sequence]): declare max_length',
    )
    expect(() => planPreprocessing(text(['batch', 8], {max_length: 9}))).toThrow(
      'max_length is 9 but the model takes sequences of exactly 8',
    )
    expect(
      planPreprocessing(text(['batch', 'sequence'], {max_length: 32, padding: 'longest'}))!.texts[0],
    ).toMatchObject({maxLength: 32})
  })

  it('refuses postprocess: on an output without labels', () => {
    expect(() =>
      planPreprocessing(
        signature(
          [{dtype: 'float32', name: 'x', shape: ['batch', 4]}],
          [{dtype: 'float32', name: 'y', postprocess: {}, shape: ['batch', 3]}],
        ),
      ),
    ).toThrow('[signature.outputs[0].postprocess] postprocess needs labels: on this output (one per class)')
  })
})
