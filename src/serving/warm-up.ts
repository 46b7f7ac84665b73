import {errorMessage} from '../errors.js'
import type {InferenceBackend} from './backend.js'
import type {ServingContext} from './context.js'
import {measureRowCost} from './layout.js'
import {decodeNested} from './decode.js'
import {allocate, elementCount, type TensorMap} from './tensors.js'

/**
 * The inputs of the warm-up inference: model.yaml's examples where every input has one, zeros of the input shapes
 * otherwise. Apart from the fastify app (app.ts) so that `mlship deploy`, which times a model load, needs no fastify.
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

/**
 * One inference per worker before the server says it is ready, so the first real request does not pay for lazy
 * initialisation. Uses the model.yaml examples when every input has one, else zeros of the smallest valid shape.
 */
export async function warmUp(
  context: ServingContext,
  logger: {warn(fields: object, message: string): void} | undefined,
): Promise<void> {
  const feeds = warmUpFeeds(context)
  try {
    await Promise.all(Array.from({length: context.backend.info.workers}, () => context.backend.run(cloneFeeds(feeds))))
  } catch (error) {
    logger?.warn({err: errorMessage(error)}, 'the warm-up inference failed; serving anyway')
  }
}

/**
 * The median time of a single-row inference of `backend` on the warm-up input (layout.ts, measureRowCost), in ms;
 * undefined when the model fails on that input (it is then served as it always was: the server logs the failure).
 */
export async function timeSingleRow(
  backend: Pick<InferenceBackend, 'run'>,
  signature: ServingContext['signature'],
): Promise<number | undefined> {
  try {
    const feeds = warmUpFeeds({signature})
    const rows = Object.values(feeds)[0]?.dims[0] ?? 1
    return await measureRowCost(() => backend.run(cloneFeeds(feeds)), {rows})
  } catch {
    return undefined
  }
}

/** A copy of `feeds` with data of its own, so that no two runs share an input buffer. */
export function cloneFeeds(feeds: TensorMap): TensorMap {
  const out: TensorMap = {}
  for (const [name, t] of Object.entries(feeds)) out[name] = {...t, data: t.data.slice()}
  return out
}
