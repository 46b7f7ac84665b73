/**
 * The page's predictor, run in Node by onnxruntime-web's own WebAssembly runtime (the .wasm the bundle ships), against
 * the server in this process: the same answers within 1e-5, the same 400 messages.
 */
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadModelProject} from '../../model/load-model.js'
import {type RunningServer, startServer} from '../../serving/server.js'
import {examplesDir} from '../../util/paths.js'
import {webBundleConfig} from '../build-web.js'
import type {WebBundleConfig} from '../config.js'
import {BAD_IRIS_BODIES, digitsHeldOutRows, IRIS_ROWS, maxAbsDiff} from '../test-support/rows.js'
import {createPredictor, exampleBody, type Predictor, type PredictorOptions} from './predictor.js'
import {CLOSE_AT_ONCE, post} from '../../serving/test-support/servers.js'

async function predictorFor(
  dir: string,
  options: Partial<PredictorOptions> = {},
): Promise<{predictor: Predictor; config: WebBundleConfig}> {
  const project = await loadModelProject(dir)
  const config = webBundleConfig(project, {backend: 'wasm', onnxruntimeWeb: '1.30.0'})
  const ort = await import('onnxruntime-web')
  const predictor = createPredictor(ort, config, {
    crossOriginIsolated: false,
    hasWebGpu: false,
    loadModel: async () => new Uint8Array(await readFile(project.modelPath)),
    now: () => performance.now(),
    threads: 1,
    warn: () => undefined,
    ...options,
  })
  return {config, predictor}
}

describe.each([
  {model: 'iris', rows: () => Promise.resolve(IRIS_ROWS)},
  {model: 'digits-mlp', rows: () => digitsHeldOutRows(40)},
])('the $model predictor in onnxruntime-web against its server', ({model, rows}) => {
  const dir = path.join(examplesDir(), model)
  let server: RunningServer
  let predictor: Predictor
  let config: WebBundleConfig

  beforeAll(async () => {
    server = await startServer({dir, host: '127.0.0.1', logger: false, port: 0, serving: {workers: 1}})
    ;({config, predictor} = await predictorFor(dir))
  })
  afterAll(() => server.close(CLOSE_AT_ONCE))

  it('answers the example and held-out rows as the server does, within 1e-5', async () => {
    for (const body of [exampleBody(config), {features: await rows()}]) {
      const fromServer = await post<any>(`${server.url}/predict`, body)
      const inPage = await predictor.predict(body)
      expect(fromServer.status).toBe(200)
      expect(Object.keys(inPage).sort()).toEqual(Object.keys(fromServer.body).sort())
      expect(maxAbsDiff(inPage.predictions, fromServer.body.predictions)).toBeLessThanOrEqual(1e-5)
      expect(inPage.labels).toEqual(fromServer.body.labels)
      expect(inPage.model_version).toBe(fromServer.body.model_version)
      expect(inPage.latency_ms).toBeGreaterThan(0)
    }
  })

  it('reports the runtime it got: WebAssembly, one thread when the page is not cross-origin isolated', async () => {
    const info = await predictor.ready
    expect(info).toMatchObject({backend: 'wasm', crossOriginIsolated: false, fallbackReason: null, threads: 1})
    expect(info.model).toEqual({name: config.name, version: config.version})
  })
})

describe('the predictor refuses what the server refuses', () => {
  const dir = path.join(examplesDir(), 'iris')
  let server: RunningServer
  let predictor: Predictor

  beforeAll(async () => {
    server = await startServer({dir, host: '127.0.0.1', logger: false, port: 0, serving: {workers: 1}})
    ;({predictor} = await predictorFor(dir))
  })
  afterAll(() => server.close(CLOSE_AT_ONCE))

  it.each(BAD_IRIS_BODIES.map((body) => [JSON.stringify(body).slice(0, 60), body]))(
    "with the server's 400 message: %s",
    async (_, body) => {
      const fromServer = await post<any>(`${server.url}/predict`, body)
      expect(fromServer.status).toBe(400)
      const error = await predictor.predict(body).catch((error_: unknown) => error_)
      expect(error).toMatchObject({
        body: fromServer.body,
        message: fromServer.body.error,
        name: 'PredictError',
        status: 400,
      })
    },
  )
})

describe('the predictor', () => {
  const dir = path.join(examplesDir(), 'iris')

  it('answers calls made at once one after the other (onnxruntime-web runs one inference at a time)', async () => {
    const {predictor} = await predictorFor(dir)
    const answers = await Promise.all(IRIS_ROWS.map((row) => predictor.predict({features: [row]})))
    const together = await predictor.predict({features: IRIS_ROWS})
    expect(answers.flatMap((a) => a.labels)).toEqual(together.labels)
  })

  it('falls back from WebGPU to WebAssembly loudly: warned once, and the reason is in `ready`', async () => {
    const warnings: string[] = []
    const {predictor} = await predictorFor(dir, {backend: 'webgpu', warn: (message) => warnings.push(message)})
    const info = await predictor.ready
    expect(info).toMatchObject({backend: 'wasm', requestedBackend: 'webgpu'})
    expect(info.fallbackReason).toContain('no WebGPU')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('running on WebAssembly')
    expect((await predictor.predict({features: [IRIS_ROWS[0]]})).labels).toEqual(['setosa'])
  })

  it('asks for threads only where the page is cross-origin isolated', async () => {
    const {predictor} = await predictorFor(dir, {crossOriginIsolated: false, threads: 4})
    expect((await predictor.ready).threads).toBe(1)
  })

  it('rejects ready and every prediction when the model cannot be fetched', async () => {
    const {predictor} = await predictorFor(dir, {
      loadModel: () => Promise.reject(new Error('cannot fetch the model: HTTP 404')),
    })
    await expect(predictor.ready).rejects.toThrow('HTTP 404')
    await expect(predictor.predict({features: [IRIS_ROWS[0]]})).rejects.toThrow('HTTP 404')
  })
})
