import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {ExitCode} from '../errors.js'
import type {WebBundleConfig} from './config.js'
import {checkWebRuntime, describeWebLoadFailure} from './web-check.js'

const fixture = path.join(import.meta.dirname, 'fixtures', 'image-decoder.onnx')

const imageDecoderConfig: WebBundleConfig = {
  backend: 'wasm',
  maxBatchSize: 1,
  modelFile: 'model.onnx',
  name: 'image-decoder',
  onnxruntimeWeb: '1.30.0',
  signature: {
    inputs: [{dtype: 'uint8', name: 'encoded', shape: ['n']}],
    outputs: [{dtype: 'uint8', name: 'image', shape: [-1, -1, 3]}],
  },
  version: '1.0.0',
}

describe('describeWebLoadFailure', () => {
  it("names the operator, opset and node of onnxruntime's two kernel errors", () => {
    expect(
      describeWebLoadFailure(
        "Can't create a session. ERROR_CODE: 9, ERROR_MESSAGE: Could not find an implementation for Add(14) node with name 'add_1'",
      ),
    ).toEqual({
      message: "Could not find an implementation for Add(14) node with name 'add_1'",
      node: 'add_1',
      operator: 'Add',
      opset: 14,
    })
    expect(
      describeWebLoadFailure(
        "Failed to find kernel for com.microsoft.NhwcFusedConv(1) (node:'' ep:'CPUExecutionProvider'). Kernel not found",
      ),
    ).toMatchObject({node: undefined, operator: 'com.microsoft.NhwcFusedConv', opset: 1})
  })

  it('keeps any other cause as it is, on one line', () => {
    expect(describeWebLoadFailure('protobuf parsing failed\nmore')).toEqual({message: 'protobuf parsing failed'})
  })
})

describe('checkWebRuntime', () => {
  it('refuses a model onnxruntime-web cannot load, naming the operator (exit 2)', async () => {
    const error = await checkWebRuntime({config: imageDecoderConfig, modelPath: fixture}).catch(
      (error_: unknown) => error_,
    )
    expect(error).toMatchObject({
      code: 'WEB_UNSUPPORTED_OPERATOR',
      details: {node: 'decode', operator: 'ImageDecoder', opset: 20},
      exitCode: ExitCode.usage,
    })
    expect((error as Error).message).toContain('operator ImageDecoder (opset 20) of node "decode"')
    expect((error as Error).message).toContain('onnxruntime-web 1.30.0')
  })
})
