import {describe, expect, it} from 'vitest'

import type {Interpolation} from '../config/schema.js'
import {crop, type Pixels, resize} from './resample.js'

/** A deterministic, busy image (no two neighbours alike), so that every coefficient matters. */
function pixels(width: number, height: number, channels: number): Pixels {
  const data = new Uint8Array(width * height * channels)
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + Math.floor(i / (width * channels)) * 91) % 256
  return {channels, data, height, width}
}

const filters: Interpolation[] = ['bilinear', 'bicubic', 'lanczos', 'box', 'hamming', 'nearest']

describe('resize of a region', () => {
  // Shrinking, enlarging, and one axis left as it is (no pass on that axis), for one and three channels.
  const cases = [
    {from: [61, 47], to: [40, 30], region: {height: 24, left: 9, top: 3, width: 22}},
    {from: [20, 15], to: [45, 33], region: {height: 30, left: 1, top: 2, width: 40}},
    {from: [50, 30], to: [50, 21], region: {height: 21, left: 5, top: 0, width: 40}},
    {from: [50, 30], to: [37, 30], region: {height: 20, left: 0, top: 6, width: 37}},
  ]
  for (const channels of [1, 3, 4]) {
    for (const {from, region, to} of cases) {
      it(`equals the whole resize cropped: ${from.join('x')} -> ${to.join('x')}, ${channels} channel(s)`, () => {
        const input = pixels(from[0]!, from[1]!, channels)
        for (const filter of filters) {
          const whole = resize(input, to[0]!, to[1]!, filter)
          expect(whole.width).toBe(to[0])
          expect(whole.height).toBe(to[1])
          const part = resize(input, to[0]!, to[1]!, filter, region)
          expect({filter, ...part}).toEqual({filter, ...crop(whole, region)})
        }
      })
    }
  }

  it('crops without resizing when the size does not change', () => {
    const input = pixels(8, 6, 3)
    const region = {height: 2, left: 1, top: 3, width: 5}
    const part = resize(input, 8, 6, 'bilinear', region)
    expect(part.width).toBe(5)
    expect(Array.from(part.data.subarray(0, 3))).toEqual(
      Array.from(input.data.subarray((3 * 8 + 1) * 3, (3 * 8 + 1) * 3 + 3)),
    )
  })
})
