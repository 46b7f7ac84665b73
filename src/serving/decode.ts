import type {Dimension, InputSpec, Signature, TensorDtype} from '../config/schema.js'
import {formatShape, isDynamic} from '../model/shape.js'
import {badRequest} from './request-error.js'
import {
  allocate,
  dtypeOfV2Datatype,
  elementCount,
  float16InRange,
  HostTensor,
  INT64_RANGE,
  INTEGER_RANGE,
  TensorData,
  TensorMap,
  toFloat16Bits,
  V2_DATATYPE,
} from './tensors.js'

/**
 * Request bodies -> tensors, checked against the signature before anything reaches onnxruntime. Pure functions: every
 * refusal is a RequestError (400) whose message names the input and says what was expected and what came.
 */

export interface DecodeLimits {
  /** Largest size of a dynamic first (batch) dimension. */
  maxBatchSize: number
}

const FLOAT32_MAX = 3.402_823_466_385_288_6e38
const UNSAFE_INT64 =
  'an exact integer: JSON numbers beyond ±9007199254740991 (2^53 - 1) lose digits when parsed; send 64-bit integers this large as strings, e.g. "9007199254740993"'

/** `{"features": nested}` (one-input models) or `{"inputs": {"name": nested, ...}}`: the seed contract. */
export function decodeSeedBody(body: unknown, signature: Signature, limits: DecodeLimits): TensorMap {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest(`expected a JSON object such as ${seedShapeHint(signature)}, got ${describe(body)}`)
  }
  const record = body as Record<string, unknown>
  const hasFeatures = 'features' in record
  const hasInputs = 'inputs' in record
  if (hasFeatures && hasInputs) throw badRequest('send either "features" or "inputs", not both')
  if (hasFeatures) {
    if (signature.inputs.length !== 1) {
      throw badRequest(
        `"features" is for models with one input; this model has ${signature.inputs.length} (${signature.inputs
          .map((i) => i.name)
          .join(', ')}): send {"inputs": {"<name>": [...], ...}}`,
      )
    }
    const spec = signature.inputs[0]!
    const feeds: TensorMap = {[spec.name]: decodeNested(spec, record.features, limits)}
    return feeds
  }
  if (hasInputs) {
    const inputs = record.inputs
    if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)) {
      throw badRequest(`"inputs" must be an object of input name -> nested array, got ${describe(inputs)}`)
    }
    const given = inputs as Record<string, unknown>
    checkNames(Object.keys(given), signature)
    const feeds: TensorMap = {}
    for (const spec of signature.inputs) feeds[spec.name] = decodeNested(spec, given[spec.name], limits)
    checkSharedDimensions(feeds, signature)
    return feeds
  }
  throw badRequest(`expected ${seedShapeHint(signature)}, got an object with keys ${listKeys(record)}`)
}

export interface V2InferRequest {
  id?: string
  feeds: TensorMap
  /** Names of the outputs asked for; undefined means all. */
  outputs?: string[]
}

/** The Open Inference Protocol's `{"inputs": [{"name", "shape", "datatype", "data"}], "outputs"?: [{"name"}]}`. */
export function decodeV2Body(
  body: unknown,
  signature: Signature,
  limits: DecodeLimits,
  outputNames: readonly string[],
): V2InferRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest(
      `expected a JSON object {"inputs": [{"name", "shape", "datatype", "data"}]}, got ${describe(body)}`,
    )
  }
  const record = body as Record<string, unknown>
  if (!Array.isArray(record.inputs)) {
    throw badRequest(`"inputs" must be a list of {"name", "shape", "datatype", "data"}, got ${describe(record.inputs)}`)
  }
  const given = new Map<string, Record<string, unknown>>()
  record.inputs.forEach((entry: unknown, index: number) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw badRequest(
        `inputs[${index}] must be an object {"name", "shape", "datatype", "data"}, got ${describe(entry)}`,
      )
    }
    const item = entry as Record<string, unknown>
    if (typeof item.name !== 'string')
      throw badRequest(`inputs[${index}].name must be a string, got ${describe(item.name)}`)
    if (given.has(item.name)) throw badRequest(`input "${item.name}" is given twice`)
    given.set(item.name, item)
  })
  checkNames([...given.keys()], signature)

  const feeds: TensorMap = {}
  for (const spec of signature.inputs) {
    const item = given.get(spec.name)!
    const expected = V2_DATATYPE[spec.dtype]
    if (typeof item.datatype !== 'string') {
      throw badRequest(
        `input "${spec.name}": "datatype" must be a string such as "${expected}", got ${describe(item.datatype)}`,
      )
    }
    if (item.datatype !== expected) {
      const known = dtypeOfV2Datatype(item.datatype)
      throw badRequest(
        `input "${spec.name}": expected datatype ${expected} (${spec.dtype}), got ${item.datatype}${known ? '' : ' (not a KServe v2 datatype)'}`,
      )
    }
    feeds[spec.name] = decodeFlat(spec, item.shape, item.data, limits)
  }
  checkSharedDimensions(feeds, signature)

  let outputs: string[] | undefined
  if (record.outputs !== undefined) {
    if (!Array.isArray(record.outputs))
      throw badRequest(`"outputs" must be a list of {"name"}, got ${describe(record.outputs)}`)
    outputs = record.outputs.map((entry: unknown, index: number) => {
      const name = entry !== null && typeof entry === 'object' ? (entry as Record<string, unknown>).name : undefined
      if (typeof name !== 'string')
        throw badRequest(`outputs[${index}] must be {"name": "<output>"}, got ${describe(entry)}`)
      if (!outputNames.includes(name)) {
        throw badRequest(`unknown output "${name}" (the model's outputs are: ${outputNames.join(', ')})`)
      }
      return name
    })
  }
  const id = record.id === undefined ? undefined : typeof record.id === 'string' ? record.id : undefined
  if (record.id !== undefined && id === undefined) throw badRequest(`"id" must be a string, got ${describe(record.id)}`)
  return {feeds, id, outputs}
}

/** One input given as a nested array whose nesting is the tensor's shape (row-major). */
export function decodeNested(
  spec: InputSpec,
  value: unknown,
  limits: DecodeLimits,
  label = `input "${spec.name}"`,
): HostTensor {
  const rank = spec.shape.length
  if (value === undefined) throw badRequest(`${label}: missing (expected ${describeSpec(spec)})`)
  if (rank === 0) {
    const data = allocate(spec.dtype, 1)
    const problem = elementWriter(spec.dtype)(data, 0, value)
    if (problem) throw badRequest(`${label}: expected ${problem} (a scalar), got ${describe(value)}`)
    return {data, dims: [], dtype: spec.dtype}
  }
  const dims: number[] = []
  let probe: unknown = value
  // One level past the expected rank is enough to know it is wrong (and keeps a hostile nesting cheap).
  while (Array.isArray(probe) && dims.length <= rank) {
    dims.push(probe.length)
    if (probe.length === 0) break
    probe = probe[0]
  }
  if (dims[0] === 0 && rank > 0 && isDynamic(spec.shape[0]!)) {
    throw badRequest(`${label}: empty batch (an empty list): send at least one row`)
  }
  if (dims.length !== rank) {
    const got =
      dims.length === 0
        ? describe(value)
        : dims.length > rank
          ? `more levels of nesting (shape [${dims.join(', ')}, ...])`
          : `rank ${dims.length} (shape ${formatShape(dims)})`
    const hint = dims.length === rank - 1 && rank >= 2 ? `; a single row must still be wrapped in a list: [[...]]` : ''
    throw badRequest(`${label}: expected rank ${rank} (shape ${formatShape(spec.shape)}), got ${got}${hint}`)
  }
  checkDims(spec, dims, limits, label)
  // The dims come from the first element at each level: every other one must match before anything is allocated, or
  // a few bytes of JSON ([[[x, ...1000]], [], ...]) could make the server allocate gigabytes.
  checkNesting(value as unknown[], dims, 0, label, [])
  const data = allocate(spec.dtype, elementCount(dims))
  fillNested(value as unknown[], dims, 0, data, 0, elementWriter(spec.dtype), label, [])
  return {data, dims, dtype: spec.dtype}
}

/** One input given as a shape and its data, flat or nested, row-major (the v2 protocol's form). */
export function decodeFlat(spec: InputSpec, shape: unknown, data: unknown, limits: DecodeLimits): HostTensor {
  const label = `input "${spec.name}"`
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw badRequest(
      `${label}: "shape" must be a list of non-negative integers such as ${formatShape(exampleDims(spec))}, got ${describe(shape)}`,
    )
  }
  const dims = shape as number[]
  if (dims.length !== spec.shape.length) {
    throw badRequest(
      `${label}: expected rank ${spec.shape.length} (shape ${formatShape(spec.shape)}), got rank ${dims.length} (shape ${formatShape(dims)})`,
    )
  }
  checkDims(spec, dims, limits, label)
  if (!Array.isArray(data))
    throw badRequest(`${label}: "data" must be a list (flat or nested, row-major), got ${describe(data)}`)
  // The declared shape is only a claim: it is checked against the data before anything is allocated for it, so a
  // hundred bytes declaring [1, 200000000] cost nothing.
  const size = elementCount(dims)
  const write = elementWriter(spec.dtype)
  if (Array.isArray(data[0]) && dims.length > 1) {
    // Nested data must nest exactly like the shape (checked level by level, never deeper than the rank).
    checkNesting(data, dims, 0, label, [])
    const out = allocate(spec.dtype, size)
    fillNested(data, dims, 0, out, 0, write, label, [])
    return {data: out, dims, dtype: spec.dtype}
  }
  const flat = data
  if (flat.length !== size) {
    throw badRequest(`${label}: shape ${formatShape(dims)} needs ${size} values, got ${flat.length}`)
  }
  const out = allocate(spec.dtype, size)
  for (let i = 0; i < size; i++) {
    const problem = write(out, i, flat[i])
    if (problem) throw badRequest(`${label}: data[${i}] is ${describe(flat[i])}, expected ${problem}`)
  }
  return {data: out, dims, dtype: spec.dtype}
}

/** Returns undefined when written, else what was expected (for the message). */
type ElementWriter = (out: TensorData, index: number, value: unknown) => string | undefined

export function elementWriter(dtype: TensorDtype): ElementWriter {
  switch (dtype) {
    case 'float32':
      return (out, i, v) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) return 'a finite number (float32)'
        if (Math.abs(v) > FLOAT32_MAX) return 'a number within the float32 range (±3.4e38)'
        ;(out as Float32Array)[i] = v
        return undefined
      }
    case 'float64':
      return (out, i, v) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) return 'a finite number (float64)'
        ;(out as Float64Array)[i] = v
        return undefined
      }
    case 'float16':
      return (out, i, v) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) return 'a finite number (float16)'
        if (!float16InRange(v)) return 'a number within the float16 range (±65504)'
        ;(out as Uint16Array)[i] = toFloat16Bits(v)
        return undefined
      }
    case 'int64':
    case 'uint64': {
      const [min, max] = INT64_RANGE[dtype]
      return (out, i, v) => {
        let big: bigint
        if (typeof v === 'number' && Number.isInteger(v)) {
          // Past 2^53 a JSON number has already been rounded by the parser: refuse it rather than run on another value.
          if (!Number.isSafeInteger(v)) return UNSAFE_INT64
          big = BigInt(v)
        } else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) big = BigInt(v)
        else return `an integer (${dtype}; as a string for exact values beyond 2^53)`
        if (big < min || big > max) return `an integer within the ${dtype} range`
        ;(out as BigInt64Array | BigUint64Array)[i] = big
        return undefined
      }
    }
    case 'bool':
      return (out, i, v) => {
        if (typeof v !== 'boolean') return 'true or false (bool)'
        ;(out as Uint8Array)[i] = v ? 1 : 0
        return undefined
      }
    case 'string':
      return (out, i, v) => {
        if (typeof v !== 'string') return 'a string'
        ;(out as string[])[i] = v
        return undefined
      }
    default: {
      const [min, max] = INTEGER_RANGE[dtype]!
      return (out, i, v) => {
        if (typeof v !== 'number' || !Number.isInteger(v)) return `an integer (${dtype})`
        if (v < min || v > max) return `an integer within the ${dtype} range (${min} to ${max})`
        ;(out as Int32Array)[i] = v
        return undefined
      }
    }
  }
}

/** Throws unless `value` nests exactly like `dims` (every list at a level as long as the first): no element is read. */
function checkNesting(value: unknown[], dims: readonly number[], axis: number, label: string, path: number[]): void {
  const size = dims[axis]!
  if (value.length !== size) {
    throw badRequest(
      `${label}: ragged array: ${path.length === 0 ? 'the top level' : `element ${formatPath(path)}`} has ${value.length} entries, expected ${size} like the first one (every row must have the same length)`,
    )
  }
  if (axis === dims.length - 1) return
  for (let i = 0; i < size; i++) {
    const child = value[i]
    if (!Array.isArray(child)) {
      throw badRequest(
        `${label}: ragged array: element ${formatPath([...path, i])} is ${describe(child)}, expected a list like the first one`,
      )
    }
    path.push(i)
    checkNesting(child, dims, axis + 1, label, path)
    path.pop()
  }
}

/** Writes the elements of a nesting that checkNesting accepted, row-major. */
function fillNested(
  value: unknown[],
  dims: readonly number[],
  axis: number,
  out: TensorData,
  offset: number,
  write: ElementWriter,
  label: string,
  path: number[],
): number {
  const size = dims[axis]!
  if (axis === dims.length - 1) {
    for (let i = 0; i < size; i++) {
      const problem = write(out, offset + i, value[i])
      if (problem) {
        const v = value[i]
        const what = Array.isArray(v) ? `a list (ragged array: one level deeper than the first element)` : describe(v)
        throw badRequest(`${label}: element ${formatPath([...path, i])} is ${what}, expected ${problem}`)
      }
    }
    return offset + size
  }
  for (let i = 0; i < size; i++) {
    path.push(i)
    offset = fillNested(value[i] as unknown[], dims, axis + 1, out, offset, write, label, path)
    path.pop()
  }
  return offset
}

function checkDims(spec: InputSpec, dims: readonly number[], limits: DecodeLimits, label: string): void {
  spec.shape.forEach((expected, axis) => {
    const got = dims[axis]!
    if (!isDynamic(expected) && got !== expected) {
      throw badRequest(
        `${label}: expected shape ${formatShape(spec.shape)}, got ${formatShape(dims)} (axis ${axis} must be ${expected}, not ${got})`,
      )
    }
  })
  if (dims.length > 0 && isDynamic(spec.shape[0]!)) {
    if (dims[0] === 0) throw badRequest(`${label}: empty batch (shape ${formatShape(dims)}): send at least one row`)
    if (dims[0]! > limits.maxBatchSize) {
      throw badRequest(
        `${label}: batch of ${dims[0]} rows is larger than the maximum of ${limits.maxBatchSize} (serving.max_batch_size): split it into smaller requests`,
      )
    }
  }
}

/** Inputs that name the same symbolic dimension (for example "batch") must agree on its size. */
function checkSharedDimensions(feeds: TensorMap, signature: Signature): void {
  const seen = new Map<string, {size: number; input: string}>()
  for (const spec of signature.inputs) {
    const tensor = feeds[spec.name]
    if (!tensor) continue
    spec.shape.forEach((dim, axis) => {
      if (typeof dim !== 'string') return
      const size = tensor.dims[axis]!
      const first = seen.get(dim)
      if (!first) seen.set(dim, {input: spec.name, size})
      else if (first.size !== size) {
        throw badRequest(
          `input "${spec.name}": dimension "${dim}" (axis ${axis}) is ${size}, but it is ${first.size} in input "${first.input}": inputs that share a dimension must agree`,
        )
      }
    })
  }
}

function checkNames(given: readonly string[], signature: Signature): void {
  const names = signature.inputs.map((i) => i.name)
  for (const name of given) {
    if (!names.includes(name)) throw badRequest(`unknown input "${name}" (the model's inputs are: ${names.join(', ')})`)
  }
  for (const spec of signature.inputs) {
    if (!given.includes(spec.name)) throw badRequest(`missing input "${spec.name}" (expected ${describeSpec(spec)})`)
  }
}

function describeSpec(spec: InputSpec): string {
  return `${spec.dtype} ${formatShape(spec.shape)}`
}

function seedShapeHint(signature: Signature): string {
  return signature.inputs.length === 1
    ? '{"features": [[...], ...]}'
    : `{"inputs": {${signature.inputs.map((i) => `"${i.name}": [...]`).join(', ')}}}`
}

function exampleDims(spec: InputSpec): number[] {
  return spec.shape.map((d: Dimension) => (typeof d === 'number' && d >= 0 ? d : 1))
}

function formatPath(path: readonly number[]): string {
  return `[${path.join(', ')}]`
}

function listKeys(record: Record<string, unknown>): string {
  const keys = Object.keys(record)
  return keys.length === 0 ? '(none)' : keys.map((k) => JSON.stringify(k)).join(', ')
}

/** A short description of a JSON value for messages: its kind, and the value itself when short. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return `a list of ${value.length}`
  switch (typeof value) {
    case 'string':
      return `${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)} (a string)`
    case 'number':
      return Number.isFinite(value) ? `${value} (a number)` : `${value} (not a finite number)`
    case 'boolean':
      return `${value} (a boolean)`
    case 'object':
      return 'an object'
    default:
      return typeof value
  }
}
