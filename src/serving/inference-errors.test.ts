import {describe, expect, it} from 'vitest'

import {describeRunError, isInputFault} from './inference-errors.js'

describe('onnxruntime run errors', () => {
  it.each([
    "Non-zero status code returned while running Gather node. Name:'/emb/Gather' Status Message: indices element out of data bounds, idx=500 must be within the inclusive range [-100,99]",
    "Non-zero status code returned while running Reshape node. Name:'r' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:39 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) input_shape_size == size was false. The input tensor cannot be reshaped to the requested shape. Input shape:{1,5}, requested shape:{2,2}",
    "Non-zero status code returned while running Add node. Name:'add' Status Message: Attempting to broadcast an axis by a dimension other than 1. 3 by 4",
    'Got invalid dimensions for input: ids for the following indices\n index: 1 Got: 3 Expected: 2\n Please fix either the inputs/outputs or the model.',
  ])("are the client's values at fault: %s", (message) => {
    expect(isInputFault(message)).toBe(true)
  })

  it.each([
    "Non-zero status code returned while running MatMul node. Name:'m' Status Message: Failed to allocate memory for requested buffer of size 8589934592",
    "Non-zero status code returned while running Conv node. Name:'c' Status Message: CUDA error cudaErrorMemoryAllocation:out of memory",
    'Error: something unexpected happened inside the session',
    "Non-zero status code returned while running Foo node. Name:'f' Status Message: Not implemented: index out of range for this type",
  ])("are the server's failures: %s", (message) => {
    expect(isInputFault(message)).toBe(false)
  })

  it('keeps what onnxruntime says about the node and the values, on one line, without its boilerplate', () => {
    expect(
      describeRunError(
        "Non-zero status code returned while running Gather node. Name:'/emb/Gather' Status Message: indices element out of data bounds, idx=500 must be within the inclusive range [-100,99]",
      ),
    ).toBe(
      'Gather node "/emb/Gather": indices element out of data bounds, idx=500 must be within the inclusive range [-100,99]',
    )
    expect(describeRunError("Non-zero status code returned while running Gather node. Name:'' Status Message: x")).toBe(
      'Gather node: x',
    )
    expect(
      describeRunError(
        'Got invalid dimensions for input: ids for the following indices\n index: 1 Got: 3 Expected: 2\n Please fix either the inputs/outputs or the model.',
      ),
    ).toBe('Got invalid dimensions for input: ids for the following indices index: 1 Got: 3 Expected: 2')
  })
})
