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

/** The output positions [first, first + count) of an axis's coefficients (each output pixel has its own). */
function slice(c: Coefficients, first: number, count: number): Coefficients {
  return {
    bounds: c.bounds.subarray(first * 2, (first + count) * 2),
    ksize: c.ksize,
    weights: c.weights.subarray(first * c.ksize, (first + count) * c.ksize),
  }
}

/** The output columns that `c` describes, for `rows` input rows from `rowOffset`. */
function horizontal(input: Pixels, rowOffset: number, rows: number, c: Coefficients): Pixels {
  const {channels, width} = input
  const outWidth = c.bounds.length / 2
  const out = new Uint8Array(outWidth * rows * channels)
  const {bounds, ksize, weights} = c
  const src = input.data
  for (let y = 0; y < rows; y++) {
    const rowStart = (y + rowOffset) * width * channels
    let to = y * outWidth * channels
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[xx * 2]!
      const xmax = bounds[xx * 2 + 1]!
      const k = xx * ksize
      if (channels === 3) {
        // The common case, its three sums in one walk along the row.
        let ss0 = HALF
        let ss1 = HALF
        let ss2 = HALF
        let at = rowStart + xmin * 3
        for (let x = 0; x < xmax; x++, at += 3) {
          const w = weights[k + x]!
          ss0 += src[at]! * w
          ss1 += src[at + 1]! * w
          ss2 += src[at + 2]! * w
        }
        out[to++] = clip8(ss0)
        out[to++] = clip8(ss1)
        out[to++] = clip8(ss2)
        continue
      }
      for (let ch = 0; ch < channels; ch++) {
        let ss = HALF
        let at = rowStart + xmin * channels + ch
        for (let x = 0; x < xmax; x++, at += channels) ss += src[at]! * weights[k + x]!
        out[to++] = clip8(ss)
      }
    }
  }
  return {channels, data: out, height: rows, width: outWidth}
}

/**
 * The output rows that `c` describes, from an input whose first row is input row `rowShift`. Row by row: each input
 * row's weighted values are added along the row (memory in order), in exact integer sums as Pillow's 32-bit ones.
 */
function vertical(input: Pixels, c: Coefficients, rowShift: number): Pixels {
  const {channels, width} = input
  const outHeight = c.bounds.length / 2
  const stride = width * channels
  const out = new Uint8Array(outHeight * stride)
  const {bounds, ksize, weights} = c
  const src = input.data
  const sums = new Float64Array(stride)
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2]! - rowShift
    const ymax = bounds[yy * 2 + 1]!
    const k = yy * ksize
    sums.fill(HALF)
    for (let y = 0; y < ymax; y++) {
      const w = weights[k + y]!
      const from = (ymin + y) * stride
      for (let i = 0; i < stride; i++) sums[i]! += src[from + i]! * w
    }
    const outRow = yy * stride
    for (let i = 0; i < stride; i++) out[outRow + i] = clip8(sums[i]!)
  }
  return {channels, data: out, height: outHeight, width}
}

/** Rows [top, top + height) and columns [left, left + width) of the pixels. */
export function crop(pixels: Pixels, region: Region): Pixels {
  const {height, left, top, width} = region
  if (left === 0 && top === 0 && width === pixels.width && height === pixels.height) return pixels
  const {channels} = pixels
  const out = new Uint8Array(width * height * channels)
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * pixels.width + left) * channels
    out.set(pixels.data.subarray(from, from + width * channels), y * width * channels)
  }
  return {channels, data: out, height, width}
}

/** A rectangle of an image, in pixels. */
export interface Region {
  left: number
  top: number
  width: number
  height: number
}

/** Pillow's ImagingScaleAffine for a plain scale: positions accumulated in doubles exactly as Pillow does. */
function nearest(input: Pixels, outWidth: number, outHeight: number, region: Region): Pixels {
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
  const out = new Uint8Array(region.width * region.height * channels)
  let yo = a4 * 0.5
  for (let y = 0; y < region.top + region.height; y++) {
    if (y >= region.top) {
      const yi = Math.min(height - 1, coord(yo))
      for (let x = 0; x < region.width; x++) {
        const from = (yi * width + xin[region.left + x]!) * channels
        const to = ((y - region.top) * region.width + x) * channels
        for (let ch = 0; ch < channels; ch++) out[to + ch] = input.data[from + ch]!
      }
    }
    yo += a4
  }
  return {channels, data: out, height: region.height, width: region.width}
}

/**
 * The image resized to outWidth x outHeight with Pillow's arithmetic (Image.resize with the same filter), or only the
 * `region` of that result (a centre crop): every output pixel has its own coefficients, so the pixels of the region
 * are the same as those of the whole resize cropped, and the pixels outside it are never computed.
 */
export function resize(
  input: Pixels,
  outWidth: number,
  outHeight: number,
  interpolation: Interpolation,
  region: Region = {height: outHeight, left: 0, top: 0, width: outWidth},
): Pixels {
  if (outWidth === input.width && outHeight === input.height) return crop(input, region)
  if (interpolation === 'nearest') return nearest(input, outWidth, outHeight, region)
  const filter = FILTERS[interpolation]
  const horizontalCoefficients =
    outWidth === input.width
      ? undefined
      : slice(coefficients(input.width, 0, input.width, outWidth, filter), region.left, region.width)
  const verticalCoefficients =
    outHeight === input.height
      ? undefined
      : slice(coefficients(input.height, 0, input.height, outHeight, filter), region.top, region.height)
  // The input rows the vertical pass reads, or the region's own rows when there is no vertical pass.
  let firstRow = region.top
  let rowCount = region.height
  if (verticalCoefficients) {
    const {bounds} = verticalCoefficients
    firstRow = bounds[0]!
    rowCount = bounds.at(-2)! + bounds.at(-1)! - firstRow
  }
  const rows = horizontalCoefficients
    ? horizontal(input, firstRow, rowCount, horizontalCoefficients)
    : crop(input, {height: rowCount, left: region.left, top: firstRow, width: region.width})
  return verticalCoefficients ? vertical(rows, verticalCoefficients, firstRow) : rows
}
