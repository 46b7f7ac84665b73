import type {Signature} from '../config/schema.js'
import type {PreprocessPlan} from '../preprocess/plan.js'
import {type DecodeLimits, decodeV2Body, type V2InferRequest} from './decode.js'
import {badRequest} from './request-error.js'
import type {RawInputs, RawRows} from './preprocessing.js'

/**
 * The images and texts of a POST /predict JSON body, taken out of it: `{"features": "data:image/png;base64,..."}`
 * for a model whose one client input is an image or text, or `{"inputs": {"image": [...data URLs], "ids": "text"}}`.
 * What is left (`tensorBody`) goes to the ordinary decoder, with the signature of the inputs still sent as tensors;
 * undefined when the model has none.
 */
export function splitSeedBody(body: unknown, plan: PreprocessPlan): {tensorBody?: unknown; raw: RawInputs} {
  const rawInputs = [...plan.images, ...plan.texts].map((p) => p.input)
  if (rawInputs.length === 0) return {raw: {}, tensorBody: body}
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return {raw: {}, tensorBody: body}
  const record = body as Record<string, unknown>
  const raw: RawInputs = {}
  if ('features' in record && !('inputs' in record) && rawInputs.length === 1 && plan.tensorInputs.length === 0) {
    raw[rawInputs[0]!] = rowsOf(record.features, rawInputs[0]!, plan)
    return {raw}
  }
  const inputs = record.inputs
  if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)) {
    throw badRequest(`expected ${bodyHint(plan)}, got an object with keys ${Object.keys(record).join(', ') || 'none'}`)
  }
  const rest: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(inputs as Record<string, unknown>)) {
    if (rawInputs.includes(name)) raw[name] = rowsOf(value, name, plan)
    else rest[name] = value
  }
  for (const name of rawInputs) {
    if (!(name in raw)) throw badRequest(`input "${name}" is missing: ${bodyHint(plan)}`)
  }
  return plan.tensorInputs.length === 0 && Object.keys(rest).length === 0
    ? {raw}
    : {raw, tensorBody: {...record, inputs: rest}}
}

/** A row as a JSON body carries it (a string), or as the web page's predict() may (the bytes of a file). */
function isRawRow(value: unknown): value is string | Uint8Array {
  return typeof value === 'string' || value instanceof Uint8Array
}

function rowsOf(value: unknown, input: string, plan: PreprocessPlan): RawRows {
  if (isRawRow(value)) return [value]
  if (Array.isArray(value) && value.length > 0 && value.every(isRawRow)) return value
  const image = plan.images.some((p) => p.input === input)
  throw badRequest(
    image
      ? `input "${input}": expected an image as a data URL string ("data:image/jpeg;base64,...") or a list of them`
      : `input "${input}": expected a text (a string) or a list of texts`,
  )
}

/** How a client sends this model's images and texts, for error messages. */
export function bodyHint(plan: PreprocessPlan): string {
  const example = (name: string) =>
    `"${name}": ${plan.images.some((p) => p.input === name) ? '"data:image/jpeg;base64,..."' : '"some text"'}`
  const names = [...plan.images, ...plan.texts].map((p) => p.input)
  const tensors = plan.tensorInputs.map((spec) => `"${spec.name}": [...]`)
  return `{"inputs": {${[...names.map(example), ...tensors].join(', ')}}}`
}

/**
 * The images and texts of a v2 infer body, taken out of it: each input the client sends as an image or a text is
 * `{"name", "datatype": "BYTES", "shape": [n], "data": [n strings]}` (an image as base64 or a data URL, a text as
 * itself). What is left goes to decodeV2Body with the signature of the inputs still sent as tensors.
 */
export function decodeV2WithPlan(
  body: unknown,
  signature: Signature,
  plan: PreprocessPlan,
  limits: DecodeLimits,
  outputNames: readonly string[],
): V2InferRequest & {raw?: RawInputs} {
  const rawInputs = [...plan.images, ...plan.texts].map((p) => p.input)
  const record = body as {inputs?: unknown}
  if (rawInputs.length === 0 || !Array.isArray(record?.inputs))
    return decodeV2Body(body, signature, limits, outputNames)
  const raw: RawInputs = {}
  const tensors: unknown[] = []
  for (const entry of record.inputs as unknown[]) {
    const item = entry as {name?: unknown; datatype?: unknown; shape?: unknown; data?: unknown} | null
    const name = typeof item?.name === 'string' ? item.name : undefined
    if (!name || !rawInputs.includes(name)) {
      tensors.push(entry)
      continue
    }
    const what = plan.images.some((p) => p.input === name) ? 'images (base64 or data URLs)' : 'texts'
    if (item!.datatype !== 'BYTES')
      throw badRequest(`input "${name}": expected datatype BYTES (${what}), got ${String(item!.datatype)}`)
    const data = item!.data
    if (!Array.isArray(data) || data.length === 0 || !data.every((v) => typeof v === 'string'))
      throw badRequest(`input "${name}": "data" must be a list of strings (${what})`)
    const shape = item!.shape
    const rows: unknown = Array.isArray(shape) ? shape[0] : undefined
    const valid = Array.isArray(shape) && (shape.length === 1 || (shape.length === 2 && shape[1] === 1))
    if (!valid || rows !== data.length)
      throw badRequest(
        `input "${name}": "shape" must be [${data.length}] (one string per row), got ${JSON.stringify(shape)}`,
      )
    raw[name] = data
  }
  for (const name of rawInputs) {
    if (!(name in raw))
      throw badRequest(
        `missing input "${name}" (datatype BYTES: ${plan.images.some((p) => p.input === name) ? 'images' : 'texts'})`,
      )
  }
  const decoded = decodeV2Body(
    {...(body as object), inputs: tensors},
    {inputs: plan.tensorInputs, outputs: signature.outputs},
    limits,
    outputNames,
  )
  return {...decoded, raw}
}
