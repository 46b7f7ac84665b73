import type {PreprocessPlan} from '../preprocess/plan.js'
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

function rowsOf(value: unknown, input: string, plan: PreprocessPlan): RawRows {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return value
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
