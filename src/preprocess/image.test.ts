import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {imagePreprocessSchema} from '../config/schema.js'
import {sharpImageDecoder} from './image-decode.js'
import {type ImagePlan, imageRow} from './image-tensor.js'

const fixtures = path.join(import.meta.dirname, 'fixtures')

interface ReferenceCase {
  image: string
  height: number
  width: number
  shorter_side?: number
  resize?: 'stretch'
  interpolation: ImagePlan['options']['interpolation']
  mean?: number[]
  std?: number[]
  color?: 'grayscale'
  layout?: 'NHWC'
  tensor: string
}

// Made once by fixtures/make_reference.py with torchvision's PIL pipeline (Resize, CenterCrop, ToTensor, Normalize).
const reference = JSON.parse(await readFile(path.join(fixtures, 'image-reference.json'), 'utf8')) as {
  cases: ReferenceCase[]
}

function planOf(c: ReferenceCase): ImagePlan {
  const channels = c.color === 'grayscale' ? 1 : 3
  return {
    channels,
    dtype: 'float32',
    height: c.height,
    input: 'image',
    layout: c.layout ?? 'NCHW',
    mean: c.mean ?? Array.from({length: channels}, () => 0),
    options: imagePreprocessSchema.parse({
      color: c.color ?? 'rgb',
      interpolation: c.interpolation,
      resize: c.resize ?? 'shorter_side',
      shorter_side: c.shorter_side,
    }),
    std: c.std ?? Array.from({length: channels}, () => 1),
    width: c.width,
  }
}

describe('image rows against torchvision', () => {
  const decoder = sharpImageDecoder()
  for (const c of reference.cases) {
    const name = `${c.image} ${c.color ?? 'rgb'} ${c.resize ?? `shorter side ${c.shorter_side ?? 'auto'}`} ${c.interpolation} -> ${c.height}x${c.width} ${c.layout ?? 'NCHW'}`
    it(`${name} equals the reference within 1e-5`, async () => {
      const bytes = await readFile(path.join(fixtures, c.image))
      const pixels = await (await decoder).decode(bytes, {label: 'image', maxPixels: 1e6})
      const row = imageRow(pixels, planOf(c))
      const expected = new Float32Array(Uint8Array.from(Buffer.from(c.tensor, 'base64')).buffer)
      expect(row.length).toBe(expected.length)
      let worst = 0
      for (let i = 0; i < row.length; i++) worst = Math.max(worst, Math.abs(row[i]! - expected[i]!))
      expect(worst).toBeLessThanOrEqual(1e-5)
    })
  }
})
