// Apart from schema.ts, whose zod schemas a serving process does not load (it is given model.yaml already checked:
// see serving/cluster-protocol.ts), for the code that reads a model's signature.

/** Element types onnxruntime can feed and fetch as tensors. Names follow onnxruntime-node's Tensor.Type. */
export const TENSOR_DTYPES = [
  'float32',
  'float64',
  'float16',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
  'string',
] as const
export type TensorDtype = (typeof TENSOR_DTYPES)[number]
