import type {OutputSpec} from '../../config/schema.js'
import {isFloatType, rowLayout, type TensorLike, toNumber} from '../../monitoring/tensor.js'

/**
 * What an answer predicted, row by row, read from the first output (the one `predictions` carries): a class for a
 * classifier (the argmax of scores, named by its label where model.yaml has labels, or an integer or string class per
 * row), a value for a regression output (one float per row). Undefined for outputs that are neither (embeddings).
 * Outcomes (POST /feedback) are joined to it and shadows compared with it.
 */
export type RowPredictions = {kind: 'class'; rows: string[]} | {kind: 'value'; rows: number[]}

export function rowPredictions(tensor: TensorLike | undefined, spec: OutputSpec): RowPredictions | undefined {
  if (!tensor) return undefined
  const {rows, rowSize} = rowLayout(tensor)
  const data = tensor.data
  const float = isFloatType(tensor.dtype)
  const labels = spec.labels
  if (rowSize > 1) {
    if (!float && !(labels && labels.length === rowSize)) return undefined
    const classes: string[] = new Array<string>(rows)
    for (let row = 0; row < rows; row++) {
      const offset = row * rowSize
      let best = 0
      let bestValue = toNumber(data[offset])
      for (let i = 1; i < rowSize; i++) {
        const value = toNumber(data[offset + i])
        if (value > bestValue) {
          best = i
          bestValue = value
        }
      }
      classes[row] = labels && labels.length === rowSize ? labels[best]! : String(best)
    }
    return {kind: 'class', rows: classes}
  }
  if (float) {
    const values: number[] = new Array<number>(rows)
    for (let row = 0; row < rows; row++) values[row] = toNumber(data[row])
    return {kind: 'value', rows: values}
  }
  const classes: string[] = new Array<string>(rows)
  for (let row = 0; row < rows; row++) {
    const raw = data[row]
    const index = typeof raw === 'bigint' || typeof raw === 'number' ? Number(raw) : undefined
    classes[row] = index !== undefined && labels?.[index] !== undefined ? labels[index] : String(raw)
  }
  return {kind: 'class', rows: classes}
}
