/** Rows the tests send that are not model.yaml's examples: iris measurements and held-out digits (test.csv). */
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {examplesDir} from '../../util/paths.js'

/** Iris flowers of each species, none of them the example of model.yaml. */
export const IRIS_ROWS = [
  [4.9, 3.0, 1.4, 0.2],
  [5.7, 4.4, 1.5, 0.4],
  [7.0, 3.2, 4.7, 1.4],
  [5.5, 2.4, 3.8, 1.1],
  [6.3, 3.3, 6.0, 2.5],
  [5.8, 2.7, 5.1, 1.9],
  [6.0, 2.2, 5.0, 1.5],
]

/** The first `count` rows of the digits example's held-out test.csv (the label column dropped). */
export async function digitsHeldOutRows(count: number): Promise<number[][]> {
  const text = await readFile(path.join(examplesDir(), 'digits-mlp', 'test.csv'), 'utf8')
  const [header, ...lines] = text.trim().split(/\r?\n/)
  const labelColumn = header!.split(',').indexOf('label')
  return lines.slice(0, count).map((line) =>
    line
      .split(',')
      .filter((_, i) => i !== labelColumn)
      .map(Number),
  )
}

/** Largest absolute difference between two nested arrays of numbers of the same shape. */
export function maxAbsDiff(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return Number.POSITIVE_INFINITY
    return a.reduce((max: number, x, i) => Math.max(max, maxAbsDiff(x, b[i])), 0)
  }
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b)
  return a === b ? 0 : Number.POSITIVE_INFINITY
}

/** Request bodies the server answers with 400, each for another reason. */
export const BAD_IRIS_BODIES: unknown[] = [
  {features: [[1, 2, 3]]},
  {features: [1, 2, 3, 4]},
  {features: [[1, 2, 'x', 4]]},
  {
    features: [
      [1, 2, 3, 4],
      [1, 2],
    ],
  },
  {features: []},
  {features: [[1, 2, 3, 4]], inputs: {}},
  {feature: [[1, 2, 3, 4]]},
  [1, 2, 3, 4],
  {features: [[1, 2, 3, 1e39]]},
  {features: Array.from({length: 1025}, () => [1, 2, 3, 4])},
]
