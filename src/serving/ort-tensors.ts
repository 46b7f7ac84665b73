import type {InferenceSession, Tensor} from 'onnxruntime-common'

import type {TensorDtype} from '../config/schema.js'
import type {TensorMap} from './tensors.js'

/** onnxruntime's Tensor class: onnxruntime-node's in the server, onnxruntime-web's in the browser. */
export type OrtTensorClass = new (type: Tensor.Type, data: Tensor.DataType, dims?: readonly number[]) => Tensor

/**
 * Host tensors -> onnxruntime tensors and back, for both runtimes: onnxruntime-node and onnxruntime-web share
 * onnxruntime-common's Tensor, whose element layouts (bool as bytes, float16 as raw bits, int64 as BigInt64Array) are
 * the ones tensors.ts keeps.
 */
export function toOrtFeeds(feeds: TensorMap, TensorClass: OrtTensorClass): Record<string, Tensor> {
  const out: Record<string, Tensor> = {}
  for (const [name, t] of Object.entries(feeds)) out[name] = new TensorClass(t.dtype, t.data, t.dims)
  return out
}

export function fromOrtResults(results: InferenceSession.OnnxValueMapType): TensorMap {
  const outputs: TensorMap = {}
  for (const [name, tensor] of Object.entries(results)) {
    outputs[name] = {data: tensor.data, dims: [...tensor.dims], dtype: tensor.type as TensorDtype}
  }
  return outputs
}
