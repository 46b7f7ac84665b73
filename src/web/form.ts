import type {InputSpec, Signature} from '../config/schema.js'
import {isDynamic} from '../model/shape.js'

/** One number field of the page's form. */
export interface FormField {
  label: string
  /** The example's value, as text ('' without an example). */
  value: string
}

/** A form for one row of a one-input model: one field per feature. */
export interface FormLayout {
  input: string
  dtype: InputSpec['dtype']
  fields: FormField[]
  /** Fields per line: 1 (a labelled list) or a grid (an 8x8 image is 8). */
  columns: number
}

/** More fields than this and a form stops helping: the JSON box alone. */
export const MAX_FORM_FIELDS = 64

const FORM_DTYPES = new Set(['float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16'])

/**
 * The page's form, when the signature fits one: a single numeric input of shape [batch, N] (or [1, N]) with N at most
 * MAX_FORM_FIELDS. Field labels come from the input's description when it lists exactly N names ("sepal length,
 * sepal width, ..."), else name[i]; values from the example's first row. Anything else gets the JSON box only.
 */
export function formLayout(signature: Signature): FormLayout | undefined {
  if (signature.inputs.length !== 1) return undefined
  const input = signature.inputs[0]!
  if (input.shape.length !== 2 || !FORM_DTYPES.has(input.dtype)) return undefined
  const [rows, width] = input.shape as [InputSpec['shape'][number], InputSpec['shape'][number]]
  if (!(isDynamic(rows) || rows === 1)) return undefined
  if (typeof width !== 'number' || width < 1 || width > MAX_FORM_FIELDS) return undefined

  const names = input.description?.split(/\s*,\s*/).filter(Boolean)
  const labelOf = (i: number) => (names?.length === width ? names[i]! : `${input.name}[${i}]`)
  const firstRow = Array.isArray(input.example) && Array.isArray(input.example[0]) ? input.example[0] : undefined
  const fields = Array.from({length: width}, (_, i) => ({
    label: labelOf(i),
    value: firstRow?.[i] === undefined ? '' : String(firstRow[i] as number),
  }))
  const side = Math.sqrt(width)
  const columns = width <= 8 ? 1 : Number.isInteger(side) ? side : 4
  return {columns, dtype: input.dtype, fields, input: input.name}
}
