import {copyFile, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {MlshipError} from '../errors.js'
import type {InferenceBackend} from './backend.js'
import {openModel} from './open-model.js'

const IRIS = path.resolve(import.meta.dirname, '../../examples/iris')
const SETOSA = {features: {data: Float32Array.from([5.1, 3.5, 1.4, 0.2]), dims: [1, 4], dtype: 'float32' as const}}
const NO_CUDA = {bindingDir: '/ort', exists: () => false}

describe('openModel', () => {
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-open-model-'))
    await copyFile(path.join(IRIS, 'model.onnx'), path.join(dir, 'model.onnx'))
    await copyFile(path.join(IRIS, 'model.yaml'), path.join(dir, 'model.yaml'))
  })

  afterEach(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  it('runs the model in this thread with the session that read its signature (one prediction, a baseline)', async () => {
    const model = await openModel({dir, env: {}, runIn: 'this-thread', serving: {intraOpThreads: 2}})
    try {
      expect(model.project.signatureSource).toBe('model.yaml')
      expect(model.project.signature.inputs.map((input) => input.name)).toEqual(['features'])
      expect(model.backend.info).toEqual({executionProvider: 'cpu', intraOpThreads: 2, workers: 1})
      expect(model.settings.intraOpThreads).toBe(2)
      const outputs = await model.backend.run(SETOSA)
      expect((outputs.probabilities!.data as Float32Array)[0]).toBeGreaterThan(0.9)
    } finally {
      await model.backend.close()
    }
  })

  it('runs the model on inference worker threads, as many as the settings say (a server, batch predictions)', async () => {
    const model = await openModel({dir, env: {}, runIn: 'workers', serving: {workers: 2}})
    try {
      expect(model.backend.info).toMatchObject({executionProvider: 'cpu', workers: 2})
      const outputs = await model.backend.run(SETOSA)
      expect(outputs.probabilities!.dims).toEqual([1, 3])
    } finally {
      await model.backend.close()
    }
  })

  it.each(['this-thread', 'workers'] as const)(
    'refuses CUDA that cannot work, before opening anything, whoever asked for it (%s)',
    async (runIn) => {
      const asked = [
        {device: 'cuda' as const, env: {}, source: 'the --device option'},
        {env: {MLSHIP_DEVICE: 'cuda'}, source: 'MLSHIP_DEVICE'},
      ]
      for (const {source, ...options} of asked) {
        const failure = await openModel({...options, cudaProbe: NO_CUDA, dir, runIn}).catch((error: unknown) => error)
        expect(failure).toBeInstanceOf(MlshipError)
        expect(failure).toMatchObject({code: 'CUDA_UNAVAILABLE', exitCode: 2})
        expect((failure as Error).message).toContain(`CUDA was asked for (${source})`)
        expect((failure as Error).message).toContain('does not fall back to the CPU')
      }
    },
  )

  it('takes build.gpu of model.yaml as asking for CUDA, and an explicit cpu over it', async () => {
    const file = path.join(dir, 'model.yaml')
    await writeFile(file, `${await readFile(file, 'utf8')}build:\n  gpu: true\n`)

    await expect(openModel({cudaProbe: NO_CUDA, dir, env: {}, runIn: 'this-thread'})).rejects.toThrow(
      /CUDA was asked for \(build.gpu in model.yaml\)/,
    )
    const model = await openModel({cudaProbe: NO_CUDA, device: 'cpu', dir, env: {}, runIn: 'this-thread'})
    await model.backend.close()
    expect(model.backend.info.executionProvider).toBe('cpu')
  })

  it.each(['this-thread', 'workers'] as const)(
    'refuses a model.yaml signature the model does not have, naming both files (%s)',
    async (runIn) => {
      const file = path.join(dir, 'model.yaml')
      await writeFile(file, (await readFile(file, 'utf8')).replace('shape: [batch, 4]', 'shape: [batch, 5]'))

      const failure = await openModel({dir, env: {}, runIn, serving: {workers: 1}}).catch((error: unknown) => error)
      expect(failure).toMatchObject({code: 'SIGNATURE_MISMATCH'})
      expect((failure as Error).message).toContain(`${file}: the signature does not match the model`)
    },
  )

  it('puts the data directory at MLSHIP_DATA_DIR, else beside model.yaml, unless the caller names one', async () => {
    const open = async (options: {env: NodeJS.ProcessEnv; dataDir?: string}) => {
      const model = await openModel({...options, dir, runIn: 'this-thread'})
      await model.backend.close()
      return model.settings.dataDir
    }

    expect(await open({env: {}})).toBe(dir)
    expect(await open({env: {MLSHIP_DATA_DIR: 'relative/data'}})).toBe(path.resolve('relative/data'))
    expect(await open({dataDir: path.join(dir, 'variant'), env: {MLSHIP_DATA_DIR: '/data'}})).toBe(
      path.join(dir, 'variant'),
    )
  })

  it("uses a caller's backend as it is: no device is chosen and no session opened for inferences", async () => {
    const backend: InferenceBackend = {
      close: async () => {},
      info: {executionProvider: 'cpu', intraOpThreads: 1, workers: 3},
      run: async () => ({}),
    }

    const model = await openModel({backend, cudaProbe: NO_CUDA, device: 'cuda', dir, env: {}, runIn: 'workers'})

    expect(model.backend).toBe(backend)
    expect(model.project.signature.outputs.map((output) => output.name)).toEqual(['probabilities'])
  })
})
