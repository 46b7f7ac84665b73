/**
 * The tensor shape monitoring reads: what onnxruntime's Tensor, a worker's structured-cloned result and the serving
 * app's host tensors all have in common. Monitoring never imports onnxruntime or the serving app.
 */
export interface TensorLike {
  readonly dtype: string
  readonly dims: readonly number[]
  readonly data: ArrayLike<unknown>
}

export type TensorMap = Readonly<Record<string, TensorLike>>

/** Rows along the first dimension (1 for a scalar), and the elements in one row. */
export function rowLayout(tensor: TensorLike): {rows: number; rowSize: number} {
  if (tensor.dims.length === 0) return {rowSize: 1, rows: 1}
  const rows = tensor.dims[0]!
  let rowSize = 1
  for (let axis = 1; axis < tensor.dims.length; axis++) rowSize *= tensor.dims[axis]!
  return {rowSize, rows}
}

/** A numeric element as a number (bigint for 64-bit integers, 0/1 for booleans); NaN for anything else. */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value
  if (typeof value === 'bigint') return Number(value)
  if (typeof value === 'boolean') return value ? 1 : 0
  return Number.NaN
}

export function isFloatType(type: string): boolean {
  return type === 'float32' || type === 'float64' || type === 'float16'
}
