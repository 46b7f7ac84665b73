import type {Dimension, OutputSpec, Signature} from '../config/schema.js'
import {formatShape, isDynamic} from '../model/signature.js'

/**
 * Why a variant cannot answer the requests of the primary model, if it cannot: every request the primary accepts
 * (decoded against its signature) must run on the variant, and the variant's answer must read like the primary's
 * (clients and the comparison of shadows rely on it).
 *
 * - inputs: the same names, each with the same element type and rank, and every dimension the primary lets vary
 *   free in the variant too (a fixed size of the primary may be dynamic in the variant, not the other way round);
 * - outputs: every output of the primary, with the same element type and rank, fixed sizes equal, and the same
 *   labels where both name them (more outputs are fine: they are not served).
 */
export function incompatibilities(primary: Signature, variant: Signature): string[] {
  const problems: string[] = []
  const variantInputs = new Map(variant.inputs.map((t) => [t.name, t]))
  for (const input of primary.inputs) {
    const other = variantInputs.get(input.name)
    if (!other) {
      problems.push(`input "${input.name}" is missing (the variant takes ${names(variant.inputs)})`)
      continue
    }
    variantInputs.delete(input.name)
    if (other.dtype !== input.dtype) problems.push(`input "${input.name}" is ${other.dtype}, not ${input.dtype}`)
    const shape = shapeProblem(input.shape, other.shape, 'input')
    if (shape) problems.push(`input "${input.name}": ${shape}`)
  }
  for (const extra of variantInputs.keys())
    problems.push(`input "${extra}" is needed by the variant, and requests to this model do not send it`)

  const variantOutputs = new Map(variant.outputs.map((t) => [t.name, t]))
  for (const output of primary.outputs) {
    const other = variantOutputs.get(output.name)
    if (!other) {
      problems.push(`output "${output.name}" is missing (the variant gives ${names(variant.outputs)})`)
      continue
    }
    if (other.dtype !== output.dtype) problems.push(`output "${output.name}" is ${other.dtype}, not ${output.dtype}`)
    const shape = shapeProblem(output.shape, other.shape, 'output')
    if (shape) problems.push(`output "${output.name}": ${shape}`)
    const labels = labelProblem(output, other)
    if (labels) problems.push(`output "${output.name}": ${labels}`)
  }
  return problems
}

function shapeProblem(primary: readonly Dimension[], variant: readonly Dimension[], role: string): string | undefined {
  const shown = `${formatShape(variant)} against ${formatShape(primary)}`
  if (primary.length !== variant.length) return `${primary.length} dimensions expected, the variant has ${shown}`
  for (let axis = 0; axis < primary.length; axis++) {
    const a = primary[axis]!
    const b = variant[axis]!
    if (isDynamic(b)) continue
    if (isDynamic(a))
      return role === 'input'
        ? `dimension ${axis} varies here and is fixed at ${b} in the variant (${shown})`
        : `dimension ${axis} varies here and is fixed in the variant (${shown})`
    if (a !== b) return `dimension ${axis} is ${b}, not ${a} (${shown})`
  }
  return undefined
}

function labelProblem(primary: OutputSpec, variant: OutputSpec): string | undefined {
  if (!primary.labels || !variant.labels) return undefined
  if (primary.labels.length === variant.labels.length && primary.labels.every((l, i) => l === variant.labels![i]))
    return undefined
  return `the labels differ ([${variant.labels.join(', ')}] against [${primary.labels.join(', ')}]): the same class index would mean another class`
}

function names(tensors: ReadonlyArray<{name: string}>): string {
  return tensors.length === 0 ? 'none' : tensors.map((t) => `"${t.name}"`).join(', ')
}
