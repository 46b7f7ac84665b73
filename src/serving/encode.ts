import type {OutputSpec} from '../config/schema.js'
import {fromFloat16Bits, type HostTensor, V2_DATATYPE} from './tensors.js'

/**
 * Tensors -> JSON text, written directly (no intermediate arrays of boxed numbers): this is the hot path of every
 * response. Numbers print as JavaScript prints them, which is the shortest text that reads back to the same double,
 * so a float32 output is the exact value onnxruntime produced. int64 values beyond 2^53 are strings (exact); a
 * non-finite float is null (JSON has no NaN).
 */

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const MIN_SAFE = -MAX_SAFE

type ElementText = (index: number) => string

function elementText(tensor: HostTensor): ElementText {
  const {data, dtype} = tensor
  switch (dtype) {
    case 'float32':
    case 'float64': {
      const values = data as Float32Array | Float64Array
      return (i) => {
        const v = values[i]!
        return Number.isFinite(v) ? String(v) : 'null'
      }
    }
    case 'float16': {
      const bits = data as Uint16Array
      return (i) => {
        const v = fromFloat16Bits(bits[i]!)
        return Number.isFinite(v) ? String(v) : 'null'
      }
    }
    case 'int64':
    case 'uint64': {
      const values = data as BigInt64Array | BigUint64Array
      return (i) => {
        const v = values[i]!
        return v <= MAX_SAFE && v >= MIN_SAFE ? v.toString() : `"${v}"`
      }
    }
    case 'bool': {
      const values = data as Uint8Array
      return (i) => (values[i] ? 'true' : 'false')
    }
    case 'string': {
      const values = data as string[]
      return (i) => JSON.stringify(values[i])
    }
    default: {
      const values = data as Int32Array
      return (i) => String(values[i])
    }
  }
}

/** The tensor as a JSON array nested like its shape (a scalar for rank 0). */
export function nestedJson(tensor: HostTensor): string {
  const text = elementText(tensor)
  const {dims} = tensor
  if (dims.length === 0) return text(0)
  let index = 0
  const level = (axis: number): string => {
    const size = dims[axis]!
    let out = '['
    if (axis === dims.length - 1) {
      for (let i = 0; i < size; i++) out += (i === 0 ? '' : ',') + text(index++)
    } else {
      for (let i = 0; i < size; i++) out += (i === 0 ? '' : ',') + level(axis + 1)
    }
    return out + ']'
  }
  return level(0)
}

/** The tensor's elements as one flat JSON array, row-major (the v2 protocol's `data`). */
export function flatJson(tensor: HostTensor): string {
  const text = elementText(tensor)
  const size = tensor.dims.reduce((a, b) => a * b, 1)
  let out = '['
  for (let i = 0; i < size; i++) out += (i === 0 ? '' : ',') + text(i)
  return out + ']'
}

/**
 * The class label of each row for an output with `labels` in model.yaml: the argmax of the last axis when it has one
 * score per label, or the label at each index for an integer class output of rank 1. Undefined when the output does
 * not fit its labels (the server never guesses).
 */
export function rowLabels(tensor: HostTensor, spec: OutputSpec | undefined): string[] | undefined {
  const labels = spec?.labels
  if (!labels) return undefined
  const {dims, data, dtype} = tensor
  if (dtype === 'string' || dtype === 'bool') return undefined
  if (dims.length === 2 && dims[1] === labels.length && dtype !== 'int64' && dtype !== 'uint64') {
    const values = data as Float32Array
    const width = labels.length
    const out: string[] = []
    for (let row = 0; row < dims[0]!; row++) {
      let best = 0
      let bestValue = values[row * width]!
      for (let j = 1; j < width; j++) {
        const v = values[row * width + j]!
        if (v > bestValue) {
          best = j
          bestValue = v
        }
      }
      out.push(labels[best]!)
    }
    return out
  }
  if (dims.length === 1 && dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16') {
    const out: string[] = []
    for (let i = 0; i < dims[0]!; i++) {
      const index = Number((data as Int32Array | BigInt64Array)[i]!)
      const label = labels[index]
      if (label === undefined) return undefined
      out.push(label)
    }
    return out
  }
  return undefined
}

/** `{"name", "shape", "datatype", "data"}` of the v2 protocol, as JSON text. */
export function v2OutputJson(name: string, tensor: HostTensor): string {
  return `{"name":${JSON.stringify(name)},"datatype":"${V2_DATATYPE[tensor.dtype]}","shape":${JSON.stringify(tensor.dims)},"data":${flatJson(tensor)}}`
}
