import type {Interpolation} from '../config/schema.js'

/**
 * Image resizing computed exactly as Pillow's Image.resize computes it (libImaging/Resample.c and, for nearest,
 * Geometry.c), so that a model trained on torchvision's PIL pipeline (Resize + CenterCrop) sees the same pixels when
 * served: a separable convolution, horizontal pass first, with the filter widened by the scale when shrinking
 * (antialiasing) and 8-bit fixed-point coefficients (22 fractional bits), each pass rounded to 0..255.
 *
 * Pure and allocation-light: it runs in the server's decode threads and in the browser page alike.
 */

/** Pixels, interleaved (RGBRGB... or one channel), row by row. */
export interface Pixels {
  data: Uint8Array
  width: number
  height: number
  channels: number
}

interface Filter {
  weight(x: number): number
  support: number
}

const PRECISION_BITS = 32 - 8 - 2

function sinc(x: number): number {
  if (x === 0) return 1
  const px = x * Math.PI
  return Math.sin(px) / px
}

// Pillow's hamming filter multiplies by (0.54f + 0.46f * cos(x)): float literals, computed in double.
const HAMMING_A = Math.fround(0.54)
const HAMMING_B = Math.fround(0.46)

const FILTERS: Record<Exclude<Interpolation, 'nearest'>, Filter> = {
  bicubic: {
    support: 2,
    weight(x) {
      const a = -0.5
      if (x < 0) x = -x
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a
      return 0
    },
  },
  bilinear: {
    support: 1,
    weight(x) {
      if (x < 0) x = -x
      return x < 1 ? 1 - x : 0
    },
  },
  box: {
    support: 0.5,
    weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0),
  },
  hamming: {
    support: 1,
    weight(x) {
      if (x < 0) x = -x
      if (x === 0) return 1
      if (x >= 1) return 0
      const px = x * Math.PI
      return (Math.sin(px) / px) * (HAMMING_A + HAMMING_B * Math.cos(px))
    },
  },
  lanczos: {
    support: 3,
    weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0),
  },
}

interface Coefficients {
  /** Per output position: the first input position and how many follow. */
  bounds: Int32Array
  /** ksize fixed-point weights per output position. */
  weights: Int32Array
  ksize: number
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc, over the box [in0, in1) of an axis of inSize pixels. */
function coefficients(inSize: number, in0: number, in1: number, outSize: number, filter: Filter): Coefficients {
  const scale = (in1 - in0) / outSize
  const filterScale = Math.max(scale, 1)
  const support = filter.support * filterScale
  const ksize = Math.ceil(support) * 2 + 1
  const bounds = new Int32Array(outSize * 2)
  const weights = new Int32Array(outSize * ksize)
  const row = new Float64Array(ksize)
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale
    const ss = 1 / filterScale
    // C's (int) cast truncates towards zero.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5))
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin
    let sum = 0
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * ss)
      row[x] = w
      sum += w
    }
    for (let x = 0; x < ksize; x++) {
      let w = x < xmax ? row[x]! : 0
      if (x < xmax && sum !== 0) w /= sum
      weights[xx * ksize + x] =
        w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS))
    }
    bounds[xx * 2] = xmin
    bounds[xx * 2 + 1] = xmax
  }
  return {bounds, ksize, weights}
}

function clip8(value: number): number {
  const v = value >> PRECISION_BITS
  return v < 0 ? 0 : v > 255 ? 255 : v
}

const HALF = 1 << (PRECISION_BITS - 1)

function horizontal(input: Pixels, rowOffset: number, rows: number, outWidth: number, c: Coefficients): Pixels {
  const {channels, width} = input
  const out = new Uint8Array(outWidth * rows * channels)
  const {bounds, ksize, weights} = c
  const src = input.data
  for (let y = 0; y < rows; y++) {
    const rowStart = (y + rowOffset) * width * channels
    const outRow = y * outWidth * channels
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[xx * 2]!
      const xmax = bounds[xx * 2 + 1]!
      const k = xx * ksize
      for (let ch = 0; ch < channels; ch++) {
        let ss = HALF
        let at = rowStart + xmin * channels + ch
        for (let x = 0; x < xmax; x++, at += channels) ss += src[at]! * weights[k + x]!
        out[outRow + xx * channels + ch] = clip8(ss)
      }
    }
  }
  return {channels, data: out, height: rows, width: outWidth}
}

function vertical(input: Pixels, outHeight: number, c: Coefficients, rowShift: number): Pixels {
  const {channels, width} = input
  const stride = width * channels
  const out = new Uint8Array(outHeight * stride)
  const {bounds, ksize, weights} = c
  const src = input.data
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2]! - rowShift
    const ymax = bounds[yy * 2 + 1]!
    const k = yy * ksize
    const outRow = yy * stride
    for (let i = 0; i < stride; i++) {
      let ss = HALF
      let at = ymin * stride + i
      for (let y = 0; y < ymax; y++, at += stride) ss += src[at]! * weights[k + y]!
      out[outRow + i] = clip8(ss)
    }
  }
  return {channels, data: out, height: outHeight, width}
}

/** Pillow's ImagingScaleAffine for a plain scale: positions accumulated in doubles exactly as Pillow does. */
function nearest(input: Pixels, outWidth: number, outHeight: number): Pixels {
  const {channels, width, height} = input
  const a0 = width / outWidth
  const a4 = height / outHeight
  const coord = (v: number) => (v < 0 ? -1 : Math.trunc(v))
  const xin = new Int32Array(outWidth)
  let xo = a0 * 0.5
  for (let x = 0; x < outWidth; x++) {
    xin[x] = Math.min(width - 1, coord(xo))
    xo += a0
  }
  const out = new Uint8Array(outWidth * outHeight * channels)
  let yo = a4 * 0.5
  for (let y = 0; y < outHeight; y++) {
    const yi = Math.min(height - 1, coord(yo))
    for (let x = 0; x < outWidth; x++) {
      const from = (yi * width + xin[x]!) * channels
      const to = (y * outWidth + x) * channels
      for (let ch = 0; ch < channels; ch++) out[to + ch] = input.data[from + ch]!
    }
    yo += a4
  }
  return {channels, data: out, height: outHeight, width: outWidth}
}

/** The image resized to outWidth x outHeight with Pillow's arithmetic (Image.resize with the same filter). */
export function resize(input: Pixels, outWidth: number, outHeight: number, interpolation: Interpolation): Pixels {
  if (outWidth === input.width && outHeight === input.height) return input
  if (interpolation === 'nearest') return nearest(input, outWidth, outHeight)
  const filter = FILTERS[interpolation]
  const horizontalCoefficients = coefficients(input.width, 0, input.width, outWidth, filter)
  const verticalCoefficients = coefficients(input.height, 0, input.height, outHeight, filter)
  const needHorizontal = outWidth !== input.width
  const needVertical = outHeight !== input.height
  let image = input
  let rowShift = 0
  if (needHorizontal) {
    // Only the rows the vertical pass reads (all of them unless the vertical filter is narrower than the image).
    const first = verticalCoefficients.bounds[0]!
    const last = verticalCoefficients.bounds[outHeight * 2 - 2]! + verticalCoefficients.bounds[outHeight * 2 - 1]!
    image = horizontal(
      input,
      needVertical ? first : 0,
      needVertical ? last - first : input.height,
      outWidth,
      horizontalCoefficients,
    )
    rowShift = needVertical ? first : 0
  }
  if (needVertical) image = vertical(image, outHeight, verticalCoefficients, rowShift)
  return image
}
