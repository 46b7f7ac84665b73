/**
 * The page's predictor for models whose inputs declare preprocess: run in Node (onnxruntime-web's WebAssembly, sharp
 * standing in for the browser's decoder) against the server in this process: the same answers, classes and refusals
 * for images and texts. The browser's own decoder is checked in Chromium (web-preprocess.integration.test.ts).
 */
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadModelProject} from '../../model/load-model.js'
import {sharpImageDecoder} from '../../preprocess/image-decode.js'
import {type RunningServer, startServer} from '../../serving/server.js'
import {post} from '../../serving/test-support/servers.js'
import {examplesDir} from '../../util/paths.js'
import {webBundleConfig} from '../build-web.js'
import {maxAbsDiff} from '../test-support/rows.js'
import {createPredictor, type Predictor} from './predictor.js'

const fixtures = path.resolve(import.meta.dirname, '../../serving/fixtures/preprocess')
const images = path.resolve(import.meta.dirname, '../../preprocess/fixtures')

async function dataUrl(file: string): Promise<string> {
  const type = file.endsWith('.png') ? 'image/png' : 'image/jpeg'
  return `data:${type};base64,${(await readFile(file)).toString('base64')}`
}

async function predictorFor(dir: string): Promise<Predictor> {
  const project = await loadModelProject(dir)
  const text = project.signature.inputs.find((input) => input.preprocess?.text)
  const config = webBundleConfig(project, {
    backend: 'wasm',
    onnxruntimeWeb: '1.30.0',
    ...(text && {tokenizers: {[text.name]: {json: path.resolve(dir, text.preprocess!.text!.tokenizer)}}}),
  })
  const ort = await import('onnxruntime-web')
  return createPredictor(ort, config, {
    crossOriginIsolated: false,
    hasWebGpu: false,
    imageBytes: (value) => Promise.resolve(value instanceof Buffer ? new Uint8Array(value) : value),
    imageDecoder: await sharpImageDecoder(),
    loadModel: async () => new Uint8Array(await readFile(project.modelPath)),
    loadText: (file) => readFile(file, 'utf8'),
    now: () => performance.now(),
    threads: 1,
    warn: () => undefined,
  })
}

/**
 * The model's server in this process and its page predictor, made before a describe block's tests and closed after
 * them: read through the functions, once the tests run.
 */
function servedAndInPage(model: string): {server: () => RunningServer; predictor: () => Predictor} {
  let server: RunningServer | undefined
  let predictor: Predictor | undefined
  beforeAll(async () => {
    server = await startServer({dir: model, host: '127.0.0.1', logger: false, port: 0, serving: {workers: 1}})
    predictor = await predictorFor(model)
  })
  afterAll(() => server?.close())
  return {predictor: () => predictor!, server: () => server!}
}

describe.each([
  {
    files: ['photo.jpg', 'wide.png', 'tall.png', 'alpha.png'].map((f) => path.join(images, f)),
    model: fixtures + '/image',
  },
  {
    files: ['seven.jpg', 'three.png'].map((f) => path.join(examplesDir(), 'digits-image', f)),
    model: path.join(examplesDir(), 'digits-image'),
  },
])('the page predictor of $model', ({files, model}) => {
  const {predictor, server} = servedAndInPage(model)

  it('answers an image as the server does: predictions within 1e-5, the same label and top-k classes', async () => {
    for (const file of files) {
      const body = {features: await dataUrl(file)}
      const fromServer = await post<any>(`${server().url}/predict`, body)
      expect(fromServer.status).toBe(200)
      const inPage = await predictor().predict(body)
      expect(Object.keys(inPage).sort()).toEqual(Object.keys(fromServer.body).sort())
      expect(maxAbsDiff(inPage.predictions, fromServer.body.predictions)).toBeLessThanOrEqual(1e-5)
      const {classes, label, top_k: topK} = inPage as unknown as Record<string, any>
      expect(label).toBe(fromServer.body.label)
      expect(topK.map((c: {label: string}) => c.label)).toEqual(
        (fromServer.body.top_k as Array<{label: string}>).map((c) => c.label),
      )
      expect(classes).toHaveLength(1)
    }
  })

  it('takes the bytes of a file as a row, and several rows at once', async () => {
    const bytes = new Uint8Array(await readFile(files[0]!))
    const one = await predictor().predict({features: bytes})
    const two = await predictor().predict({features: [bytes, await dataUrl(files[1]!)]})
    expect((two as any).classes).toHaveLength(2)
    expect((two as any).classes[0].label).toBe((one as any).label)
  })

  it("refuses what is not an image with the server's status and message", async () => {
    const body = {features: `data:image/png;base64,${Buffer.from('not an image at all').toString('base64')}`}
    const fromServer = await post<any>(`${server().url}/predict`, body)
    const error = await predictor()
      .predict(body)
      .catch((error_: unknown) => error_)
    expect(error).toMatchObject({message: fromServer.body.error, name: 'PredictError', status: fromServer.status})
    expect(fromServer.status).toBe(415)
  })
})

describe('the page predictor of a text model', () => {
  const model = path.join(fixtures, 'text')
  const {predictor, server} = servedAndInPage(model)

  it("tokenises as the server does: the same ids and mask, truncation included, and the same tensors' dtype", async () => {
    const reference = JSON.parse(await readFile(path.join(images, 'text-reference.json'), 'utf8')) as {
      cases: Array<{text: string}>
    }
    const texts = reference.cases.map((c) => c.text)
    const body = {inputs: {input_ids: texts}}
    const fromServer = await post<any>(`${server().url}/predict`, body)
    expect(fromServer.status).toBe(200)
    const inPage = await predictor().predict(body)
    expect(inPage.outputs).toEqual(fromServer.body.outputs)
    const tensors = await predictor().tensors(body)
    expect(tensors.input_ids!.dtype).toBe('int64')
    expect(tensors.input_ids!.dims).toEqual([texts.length, 12])
  })
})

describe('the page predictor of a model with an image, a text and a tensor input', () => {
  const model = path.join(fixtures, 'image-text')
  const {predictor, server} = servedAndInPage(model)

  it('answers as the server does, and says which input is missing as the server does', async () => {
    const body = {inputs: {bias: [[0.25]], image: await dataUrl(path.join(images, 'wide.png')), input_ids: 'Not bad.'}}
    const fromServer = await post<any>(`${server().url}/predict`, body)
    expect(fromServer.status).toBe(200)
    const inPage = await predictor().predict(body)
    const outputs = inPage.outputs as {ids: number[][]; scores: number[][]}
    expect(outputs.ids).toEqual(fromServer.body.outputs.ids)
    // onnxruntime-web's ReduceMean sums in another order than onnxruntime-node's: the last float bits differ.
    expect(maxAbsDiff(outputs.scores, fromServer.body.outputs.scores)).toBeLessThanOrEqual(1e-5)
    expect((inPage as unknown as {label: string}).label).toBe(fromServer.body.label)

    const missing = {inputs: {bias: [[0.25]], input_ids: 'Not bad.'}}
    const refused = await post<any>(`${server().url}/predict`, missing)
    expect(refused.status).toBe(400)
    await expect(predictor().predict(missing)).rejects.toMatchObject({message: refused.body.error, status: 400})
  })
})
