import type {ServingContext} from './context.js'
import {decodeNested} from './decode.js'
import {allocate, elementCount, type TensorMap} from './tensors.js'

/**
 * The inputs of the warm-up inference: model.yaml's examples where every input has one, zeros of the input shapes
 * otherwise. Apart from the server (server.ts) so that `mlship deploy`, which times a model load, needs no fastify.
 */
export function warmUpFeeds(context: Pick<ServingContext, 'signature'>): TensorMap {
  const inputs = context.signature.inputs
  if (inputs.every((input) => input.example !== undefined)) {
    try {
      const feeds: TensorMap = {}
      for (const input of inputs)
        feeds[input.name] = decodeNested(input, input.example, {maxBatchSize: Number.MAX_SAFE_INTEGER})
      return feeds
    } catch {
      // An example that does not fit its input: fall back to zeros (`mlship validate` reports the example).
    }
  }
  const feeds: TensorMap = {}
  for (const input of inputs) {
    const dims = input.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1))
    feeds[input.name] = {data: allocate(input.dtype, elementCount(dims)), dims, dtype: input.dtype}
  }
  return feeds
}
