import type {TensorDtype} from '../config/schema.js'

/**
 * Tensors as the server holds them between JSON and onnxruntime: plain data (a typed array or strings), so they can
 * cross into a worker thread with their buffers transferred instead of copied. Element layouts follow
 * onnxruntime-node's Tensor: bool is one byte per element (Uint8Array), float16 is the raw IEEE half bits
 * (Uint16Array), int64/uint64 are BigInt64Array/BigUint64Array.
 */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[]

export interface HostTensor {
  dtype: TensorDtype
  dims: number[]
  data: TensorData
}

/** Named tensors: the feeds of one inference, or its outputs. */
export type TensorMap = Record<string, HostTensor>

/** The Open Inference Protocol (KServe v2) datatype of each element type. */
export const V2_DATATYPE: Readonly<Record<TensorDtype, string>> = {
  bool: 'BOOL',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  int8: 'INT8',
  string: 'BYTES',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  uint8: 'UINT8',
}

export function dtypeOfV2Datatype(datatype: string): TensorDtype | undefined {
  for (const [dtype, name] of Object.entries(V2_DATATYPE)) if (name === datatype) return dtype as TensorDtype
  return undefined
}

/** Allocates the storage for `size` elements of `dtype`. */
export function allocate(dtype: TensorDtype, size: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size)
    case 'float64':
      return new Float64Array(size)
    case 'float16':
      return new Uint16Array(size)
    case 'int8':
      return new Int8Array(size)
    case 'uint8':
    case 'bool':
      return new Uint8Array(size)
    case 'int16':
      return new Int16Array(size)
    case 'uint16':
      return new Uint16Array(size)
    case 'int32':
      return new Int32Array(size)
    case 'uint32':
      return new Uint32Array(size)
    case 'int64':
      return new BigInt64Array(size)
    case 'uint64':
      return new BigUint64Array(size)
    case 'string':
      return Array.from({length: size}, () => '')
  }
}

/** Integer ranges, for the element types that are stored as JS numbers. */
export const INTEGER_RANGE: Partial<Record<TensorDtype, readonly [number, number]>> = {
  int16: [-32_768, 32_767],
  int32: [-2_147_483_648, 2_147_483_647],
  int8: [-128, 127],
  uint16: [0, 65_535],
  uint32: [0, 4_294_967_295],
  uint8: [0, 255],
}

export const INT64_RANGE = {int64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n]} as const

const FLOAT16_MAX = 65_504

/** float -> IEEE 754 half bits, rounding to nearest even (what numpy's astype(float16) does). */
export function toFloat16Bits(value: number): number {
  const f32 = new Float32Array(1)
  f32[0] = value
  return halfBitsOfFloatBits(new Uint32Array(f32.buffer)[0]!)
}

/** Many floats -> half bits at once (no allocation per value: model weights run to millions). */
export function toFloat16Array(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length)
  const halves = new Uint16Array(values.length)
  for (let i = 0; i < bits.length; i++) halves[i] = halfBitsOfFloatBits(bits[i]!)
  return halves
}

function halfBitsOfFloatBits(x: number): number {
  const sign = (x >>> 16) & 0x80_00
  const exponent = (x >>> 23) & 0xff
  let mantissa = x & 0x7f_ffff
  if (exponent === 0xff) return sign | 0x7c_00 | (mantissa ? 0x2_00 : 0) // inf / nan
  const e = exponent - 127 + 15
  if (e >= 0x1f) return sign | 0x7c_00 // overflow -> inf
  if (e <= 0) {
    // subnormal half (or zero)
    if (e < -10) return sign
    mantissa |= 0x80_0000
    const shift = 14 - e
    let half = mantissa >>> shift
    const rest = mantissa & ((1 << shift) - 1)
    const halfway = 1 << (shift - 1)
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++
    return sign | half
  }
  let half = (e << 10) | (mantissa >>> 13)
  const rest = mantissa & 0x1f_ff
  if (rest > 0x10_00 || (rest === 0x10_00 && (half & 1) === 1)) half++
  return sign | half
}

export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x80_00 ? -1 : 1
  const exponent = (bits >>> 10) & 0x1f
  const mantissa = bits & 0x3_ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}

export function float16InRange(value: number): boolean {
  return Math.abs(value) <= FLOAT16_MAX
}

export function elementCount(dims: readonly number[]): number {
  let n = 1
  for (const d of dims) n *= d
  return n
}

/** The buffers of a tensor map, for a postMessage transfer list (each once, never a shared one). */
export function transferList(tensors: TensorMap, minBytes = 0): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>()
  for (const tensor of Object.values(tensors)) {
    const {data} = tensor
    if (!Array.isArray(data) && data.buffer instanceof ArrayBuffer && data.buffer.byteLength >= minBytes)
      buffers.add(data.buffer)
  }
  return [...buffers]
}
