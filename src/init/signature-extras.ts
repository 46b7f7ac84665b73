import type {InputSpec, OutputSpec, Signature} from '../config/schema.js'
import {isDynamic} from '../model/signature.js'

/** An output that looks like per-class scores: floats shaped [batch, K] with K >= 2 classes. */
export interface ClassifierOutput {
  index: number
  output: OutputSpec
  classes: number
}

export function classifierOutput(signature: Signature): ClassifierOutput | undefined {
  const index = signature.outputs.findIndex(
    (output) =>
      output.dtype.startsWith('float') &&
      output.shape.length === 2 &&
      isDynamic(output.shape[0]!) &&
      typeof output.shape[1] === 'number' &&
      output.shape[1] >= 2,
  )
  if (index === -1) return undefined
  const output = signature.outputs[index]!
  return {classes: output.shape[1] as number, index, output}
}

/** "setosa, versicolor, virginica" -> the labels, when there is one per class and no two are the same. */
export function parseLabels(text: string, classes: number): string[] | string {
  const labels = text
    .split(',')
    .map((label) => label.trim())
    .filter((label) => label.length > 0)
  if (labels.length !== classes) return `expected ${classes} labels, one per class, got ${labels.length}`
  if (new Set(labels).size !== labels.length) return 'two labels are the same'
  return labels
}

// An example is for reading (docs, `predict --example`, the workflow's smoke test): a few numbers, not an image.
const MAX_EXAMPLE_ELEMENTS = 64

/**
 * One row of zeros in the shape of an input (false for bool), when its shape is known apart from the batch
 * dimension and small enough to read; undefined otherwise (text inputs, dynamic or large shapes).
 */
export function exampleRow(input: InputSpec): unknown {
  if (input.dtype === 'string' || input.shape.length === 0) return undefined
  const [first, ...rest] = input.shape
  const rows = isDynamic(first!) ? 1 : (first as number)
  if (rest.some((dim) => isDynamic(dim))) return undefined
  const sizes = [rows, ...(rest as number[])]
  if (sizes.reduce((product, size) => product * size, 1) > MAX_EXAMPLE_ELEMENTS) return undefined
  const zero = input.dtype === 'bool' ? false : 0
  const fill = (dims: number[]): unknown =>
    dims.length === 0 ? zero : Array.from({length: dims[0]!}, () => fill(dims.slice(1)))
  return fill(sizes)
}
