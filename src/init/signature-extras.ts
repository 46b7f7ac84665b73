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

/** An input that looks like an image: 4-D floats or bytes, [batch, C, H, W] or [batch, H, W, C], C 1 or 3. */
export interface ImageLikeInput {
  index: number
  input: InputSpec
  channels: 1 | 3
  height: number
  width: number
}

const IMAGE_DTYPES = new Set(['float32', 'float64', 'float16', 'uint8'])

export function imageLikeInput(signature: Signature): ImageLikeInput | undefined {
  for (const [index, input] of signature.inputs.entries()) {
    if (!IMAGE_DTYPES.has(input.dtype) || input.shape.length !== 4) continue
    const [, a, b, c] = input.shape
    const fixed = (dim: unknown): dim is number => typeof dim === 'number' && dim > 1
    if ((a === 1 || a === 3) && fixed(b) && fixed(c)) return {channels: a, height: b, index, input, width: c}
    if ((c === 1 || c === 3) && fixed(a) && fixed(b)) return {channels: c, height: a, index, input, width: b}
  }
  return undefined
}

/** The inputs a text's tokenizer fills besides the ids, by the names models exported from Hugging Face use. */
export const TOKENIZER_FILLED = ['attention_mask', 'token_type_ids']

/** An input that looks like token ids: integers shaped [batch, sequence], not a mask nor token type ids. */
export function tokenIdsInput(signature: Signature): {index: number; input: InputSpec} | undefined {
  const candidates = signature.inputs
    .map((input, index) => ({index, input}))
    .filter(
      ({input}) =>
        (input.dtype === 'int64' || input.dtype === 'int32') &&
        input.shape.length === 2 &&
        !TOKENIZER_FILLED.includes(input.name),
    )
  return candidates.find(({input}) => /ids/i.test(input.name)) ?? candidates[0]
}
