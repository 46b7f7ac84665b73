import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {MlshipError} from '../errors.js'
import {assertCudaUsable, chooseDevice} from './device.js'
import {startServer} from './server.js'

const IRIS = path.resolve(fileURLToPath(import.meta.url), '../../../examples/iris')

describe('chooseDevice', () => {
  it('takes the option, then MLSHIP_DEVICE, then build.gpu', () => {
    expect(chooseDevice('cpu', {MLSHIP_DEVICE: 'cuda'}, true).device).toBe('cpu')
    expect(chooseDevice(undefined, {MLSHIP_DEVICE: 'CUDA'}, false)).toEqual({device: 'cuda', source: 'MLSHIP_DEVICE'})
    expect(chooseDevice(undefined, {}, true)).toEqual({device: 'cuda', source: 'build.gpu in model.yaml'})
    expect(chooseDevice(undefined, {}, false).device).toBe('cpu')
    expect(() => chooseDevice(undefined, {MLSHIP_DEVICE: 'tpu'}, false)).toThrow(
      /MLSHIP_DEVICE="tpu" is not a device: use cpu or cuda/,
    )
  })
})

describe('assertCudaUsable', () => {
  const cuda = {device: 'cuda' as const, source: 'MLSHIP_DEVICE'}

  it('refuses CUDA when the provider library is missing, and says how to install it', () => {
    try {
      assertCudaUsable(cuda, {bindingDir: '/ort', exists: () => false})
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(MlshipError)
      expect((error as MlshipError).message).toMatch(
        /CUDA was asked for \(MLSHIP_DEVICE\) but cannot be used: .*\/ort\/libonnxruntime_providers_cuda.so is missing.*does not fall back to the CPU/,
      )
      // With mlship's .npmrc (ignore-scripts=true) a plain npm install runs no install script and fetches nothing:
      // onnxruntime-node's install script (script/install.js) must be run again with scripts turned back on.
      const suggestions = (error as MlshipError).suggestions.join('\n')
      expect(suggestions).toContain(
        'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --ignore-scripts=false',
      )
      expect(suggestions).not.toMatch(/npm install onnxruntime-node/)
      expect((error as MlshipError).exitCode).toBe(2)
    }
  })

  it('refuses CUDA when no NVIDIA driver is visible', () => {
    expect(() => assertCudaUsable(cuda, {bindingDir: '/ort', exists: (file) => file.endsWith('.so')})).toThrow(
      /no NVIDIA driver or GPU is visible/,
    )
  })

  it('lets the CPU through and CUDA when both are there', () => {
    expect(() => assertCudaUsable({device: 'cpu', source: 'the default'}, {exists: () => false})).not.toThrow()
    expect(() => assertCudaUsable(cuda, {bindingDir: '/ort', exists: () => true})).not.toThrow()
  })

  it('makes the server refuse to start on this machine (no GPU) when CUDA is asked for', async () => {
    await expect(
      startServer({dir: IRIS, env: {MLSHIP_DEVICE: 'cuda'}, host: '127.0.0.1', logger: false, port: 0}),
    ).rejects.toThrow(/CUDA was asked for \(MLSHIP_DEVICE\) but cannot be used/)
  })
})
