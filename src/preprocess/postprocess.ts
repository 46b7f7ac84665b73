import type {OutputSpec, Postprocess} from '../config/schema.js'

/** One class of a row's answer. */
export interface ScoredLabel {
  label: string
  score: number
}

/** The best class of a row and the top k, as an image classifier answers: `{"label", "score", "top_k": [...]}`. */
export interface RowClasses extends ScoredLabel {
  top_k: ScoredLabel[]
}

/** The output a postprocess: declaration applies to, checked: class scores [batch, classes] with one label each. */
export interface PostprocessPlan {
  output: string
  labels: readonly string[]
  options: Postprocess
}

/**
 * The classes of each row of a [rows, classes] score tensor: softmax first when declared (for logits; computed in
 * double, shifted by the row's maximum so no exponent overflows), then the k best, highest first, ties by index.
 */
export function rowClasses(scores: ArrayLike<number>, rows: number, plan: PostprocessPlan): RowClasses[] {
  const width = plan.labels.length
  const k = Math.min(plan.options.top_k, width)
  const out: RowClasses[] = []
  const row = new Float64Array(width)
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < width; j++) row[j] = scores[r * width + j]!
    if (plan.options.softmax) softmaxInPlace(row)
    const order = Array.from({length: width}, (_, j) => j).sort((a, b) => row[b]! - row[a]! || a - b)
    const top = order.slice(0, k).map((j) => ({label: plan.labels[j]!, score: row[j]!}))
    out.push({...top[0]!, top_k: top})
  }
  return out
}

function softmaxInPlace(values: Float64Array): void {
  let max = -Infinity
  for (const v of values) max = Math.max(max, v)
  let sum = 0
  for (let i = 0; i < values.length; i++) {
    values[i] = Math.exp(values[i]! - max)
    sum += values[i]!
  }
  for (let i = 0; i < values.length; i++) values[i]! /= sum
}

/** Why an output cannot carry postprocess:, or undefined when it can. */
export function postprocessProblem(spec: OutputSpec): string | undefined {
  if (!spec.labels) return 'postprocess needs labels: on this output (one per class)'
  const rank = spec.shape.length
  const last = spec.shape[rank - 1]
  if (rank !== 2) return `postprocess needs class scores of shape [batch, classes], not rank ${rank}`
  if (typeof last === 'number' && last >= 0 && last !== spec.labels.length)
    return `the output has ${last} classes but ${spec.labels.length} labels`
  if (!['float32', 'float64', 'float16'].includes(spec.dtype))
    return `postprocess needs float scores, not ${spec.dtype}`
  return undefined
}
