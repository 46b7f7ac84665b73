import type {ImagePreprocess, InputSpec} from '../config/schema.js'
import {crop, type Pixels, type Region, resize} from './resample.js'

/**
 * Decoded pixels -> the rows of an image input, the way torchvision's PIL pipeline makes them: convert (RGB or
 * Pillow's "L" luma), Resize (shorter side, aspect kept) + CenterCrop, or a straight resize; then x * scale, minus the
 * channel's mean, over its std; laid out NCHW or NHWC. Pure: the server's decode threads and the browser page share it.
 */

export type Layout = 'NCHW' | 'NHWC'

/** An image input's declaration resolved against its signature: everything the pipeline needs, checked. */
export interface ImagePlan {
  input: string
  channels: 1 | 3
  height: number
  width: number
  layout: Layout
  options: ImagePreprocess
  /** Per channel (length `channels`). */
  mean: number[]
  std: number[]
  /** The element type the model takes (float32, float64, float16 or uint8). */
  dtype: InputSpec['dtype']
}

/** One row's values, channel-last or channel-first as the plan says, before the cast to the input's dtype. */
export function imageRow(pixels: Pixels, plan: ImagePlan): Float32Array {
  const converted = plan.channels === 1 ? toLuma(pixels) : toRgb(pixels)
  const sized = fit(converted, plan)
  return normalise(sized, plan)
}

/** Three channels from one (grey) or three; a fourth (alpha) is dropped as Pillow's convert("RGB") drops it. */
export function toRgb(pixels: Pixels): Pixels {
  if (pixels.channels === 3) return pixels
  const n = pixels.width * pixels.height
  const out = new Uint8Array(n * 3)
  const {channels, data} = pixels
  for (let i = 0; i < n; i++) {
    if (channels < 3) {
      const v = data[i * channels]!
      out[i * 3] = v
      out[i * 3 + 1] = v
      out[i * 3 + 2] = v
    } else {
      out[i * 3] = data[i * channels]!
      out[i * 3 + 1] = data[i * channels + 1]!
      out[i * 3 + 2] = data[i * channels + 2]!
    }
  }
  return {channels: 3, data: out, height: pixels.height, width: pixels.width}
}

/** Pillow's convert("L"): L = R * 299/1000 + G * 587/1000 + B * 114/1000, in its 16-bit fixed point. */
export function toLuma(pixels: Pixels): Pixels {
  const n = pixels.width * pixels.height
  const {channels, data} = pixels
  if (channels === 1) return pixels
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const r = data[i * channels]!
    const g = channels >= 3 ? data[i * channels + 1]! : r
    const b = channels >= 3 ? data[i * channels + 2]! : r
    out[i] = (r * 19_595 + g * 38_470 + b * 7471 + 0x80_00) >> 16
  }
  return {channels: 1, data: out, height: pixels.height, width: pixels.width}
}

/** The size the image is resized to before the centre crop (torchvision's Resize with one int). */
export function shorterSideSize(width: number, height: number, shorter: number): {width: number; height: number} {
  if (width <= height) return {height: Math.trunc((shorter * height) / width), width: shorter}
  return {height: shorter, width: Math.trunc((shorter * width) / height)}
}

/** Python's round(): halves go to the even neighbour (torchvision's CenterCrop rounds the offsets with it). */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value)
  const rest = value - floor
  if (rest > 0.5) return floor + 1
  if (rest < 0.5) return floor
  return floor % 2 === 0 ? floor : floor + 1
}

/** Resize (and crop) to the plan's height x width. */
export function fit(pixels: Pixels, plan: Pick<ImagePlan, 'height' | 'width' | 'options'>): Pixels {
  const {height, width, options} = plan
  if (options.resize === 'stretch') return resize(pixels, width, height, options.interpolation)
  const shorter = options.shorter_side ?? Math.max(height, width)
  const size = shorterSideSize(pixels.width, pixels.height, shorter)
  // Only the centre crop of the resized image is computed: the same pixels as resizing all of it, then cropping.
  return resize(pixels, size.width, size.height, options.interpolation, centreCropRegion(size, width, height))
}

/** torchvision's CenterCrop of width x height out of an image of `size` (smaller than it: no padding). */
export function centreCropRegion(size: {width: number; height: number}, width: number, height: number): Region {
  return {
    height,
    left: roundHalfEven((size.width - width) / 2),
    top: roundHalfEven((size.height - height) / 2),
    width,
  }
}

export function centreCrop(pixels: Pixels, width: number, height: number): Pixels {
  return crop(pixels, centreCropRegion(pixels, width, height))
}

/** (x * scale - mean[c]) / std[c] per value, in the plan's layout. */
export function normalise(pixels: Pixels, plan: Pick<ImagePlan, 'layout' | 'mean' | 'std' | 'options'>): Float32Array {
  const {channels, data, height, width} = pixels
  const n = width * height
  const out = new Float32Array(n * channels)
  const {scale} = plan.options
  for (let c = 0; c < channels; c++) {
    const mean = plan.mean[c]!
    const std = plan.std[c]!
    // A table per channel: 256 values, computed once (the same double arithmetic for every pixel of that value).
    const table = new Float32Array(256)
    for (let v = 0; v < 256; v++) table[v] = (v * scale - mean) / std
    if (plan.layout === 'NCHW') {
      const base = c * n
      for (let i = 0; i < n; i++) out[base + i] = table[data[i * channels + c]!]!
    } else {
      for (let i = 0; i < n; i++) out[i * channels + c] = table[data[i * channels + c]!]!
    }
  }
  return out
}
