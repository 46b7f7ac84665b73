import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {typeErrors} from '../serving/test-support/typecheck.js'
import {examplesDir} from '../util/paths.js'
import {BUNDLE_MANIFEST, buildWebBundle, readBundleManifest} from './build-web.js'

const IRIS = path.join(examplesDir(), 'iris')
const IMAGE_TEXT = path.resolve(import.meta.dirname, '../serving/fixtures/preprocess/image-text')

describe('buildWebBundle', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-web-build-'))
  })
  afterAll(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  it('writes index.html, predict.js (+ .d.ts), the model and the WebAssembly runtime only, and reports the sizes', async () => {
    const out = path.join(dir, 'iris-web')
    const result = await buildWebBundle({dir: IRIS, outputDir: out})
    expect(result.files.map((f) => f.path)).toEqual([
      'index.html',
      'predict.js',
      'predict.d.ts',
      'model.onnx',
      'runtime/ort.wasm.min.mjs',
      'runtime/ort-wasm-simd-threaded.mjs',
      'runtime/ort-wasm-simd-threaded.wasm',
    ])
    expect(result).toMatchObject({backend: 'wasm', name: 'iris-classifier', target: 'web', version: '1.0.0'})
    const {sizes} = result
    expect(sizes.modelBytes).toBe(285)
    expect(sizes.runtimeBytes).toBeGreaterThan(10e6)
    expect(sizes.runtimeBytes).toBeLessThan(20e6)
    expect(sizes.totalBytes).toBe(sizes.modelBytes + sizes.runtimeBytes + sizes.pageBytes)
    expect(await readBundleManifest(out)).toEqual(result)

    const predictJs = await readFile(path.join(out, 'predict.js'), 'utf8')
    expect(predictJs).toContain('./runtime/ort.wasm.min.mjs')
    expect(predictJs).not.toMatch(/https?:\/\/(?!www\.w3\.org)/)
    const types = await readFile(path.join(out, 'predict.d.ts'), 'utf8')
    expect(types).toContain('export declare function predict(body: PredictRequest): Promise<PredictResponse>')
    expect(types).toContain('labels?: Array<"setosa" | "versicolor" | "virginica">')
  })

  it('types predict.js for a TypeScript page: a good call compiles, a wrong body does not', async () => {
    const out = path.join(dir, 'typed')
    await buildWebBundle({dir: IRIS, outputDir: out})
    const page = path.join(out, 'page.ts')
    await writeFile(
      page,
      [
        "import {predict, ready, PredictError} from './predict.js'",
        'const info = await ready',
        'const threads: number = info.threads',
        'const answer = await predict({features: [[5.1, 3.5, 1.4, 0.2]]})',
        "const label: 'setosa' | 'versicolor' | 'virginica' | undefined = answer.labels?.[0]",
        'const status: number = new PredictError().status',
        '// @ts-expect-error: four features per row',
        'await predict({features: [[5.1, 3.5]]})',
        'export {label, status, threads}',
        '',
      ].join('\n'),
    )
    expect(typeErrors(page)).toEqual([])
  })

  it('types an image input of predict.js as what it takes: a File, Blob, bytes, a picture on the page or a string', async () => {
    const out = path.join(dir, 'typed-image-text')
    await buildWebBundle({dir: IMAGE_TEXT, outputDir: out})
    const page = path.join(out, 'page.ts')
    await writeFile(
      page,
      [
        "import {predict, tensors, type ImageSource} from './predict.js'",
        'declare const file: File',
        'declare const picture: HTMLImageElement',
        'declare const canvas: HTMLCanvasElement',
        'declare const offscreen: OffscreenCanvas',
        'declare const bitmap: ImageBitmap',
        'declare const pixels: ImageData',
        'const bytes: ImageSource[] = [new ArrayBuffer(8), new Uint8Array(8), new Blob([]), file]',
        "const pictures: ImageSource[] = [picture, canvas, offscreen, bitmap, pixels, 'data:image/png;base64,iVBO']",
        "const one = await predict({inputs: {bias: [[0.5]], image: file, input_ids: 'Not bad.'}})",
        "const rows = await predict({inputs: {bias: [[0.5], [1]], image: [picture, bytes[0]!], input_ids: ['a', 'b']}})",
        "await tensors({inputs: {bias: [[0.5]], image: pictures[0]!, input_ids: 'Not bad.'}})",
        "const label: 'red' | 'green' | 'blue' | undefined = one.labels?.[0] ?? one.label",
        '// @ts-expect-error: the page fills attention_mask from the text',
        "await predict({inputs: {attention_mask: [[1]], bias: [[0.5]], image: file, input_ids: 'Not bad.'}})",
        '// @ts-expect-error: a number is no image',
        "await predict({inputs: {bias: [[0.5]], image: 7, input_ids: 'Not bad.'}})",
        'export {label, rows}',
        '',
      ].join('\n'),
    )
    expect(typeErrors(page, ['lib.es2022.d.ts', 'lib.dom.d.ts'])).toEqual([])
  })

  it('carries the WebGPU runtime instead with backend webgpu (the CPU fallback is inside it)', async () => {
    const result = await buildWebBundle({backend: 'webgpu', dir: IRIS, outputDir: path.join(dir, 'iris-webgpu')})
    expect(result.files.filter((f) => f.kind === 'runtime').map((f) => f.path)).toEqual([
      'runtime/ort.webgpu.min.mjs',
      'runtime/ort-wasm-simd-threaded.asyncify.mjs',
      'runtime/ort-wasm-simd-threaded.asyncify.wasm',
    ])
  })

  it('replaces an earlier bundle, and refuses a folder that holds anything else', async () => {
    const out = path.join(dir, 'again')
    await buildWebBundle({dir: IRIS, outputDir: out})
    await writeFile(path.join(out, 'stale.txt'), 'from before')
    await buildWebBundle({dir: IRIS, outputDir: out})
    await expect(readFile(path.join(out, 'stale.txt'))).rejects.toThrow()

    const other = path.join(dir, 'other')
    await mkdir(other)
    await writeFile(path.join(other, 'notes.txt'), 'mine')
    await expect(buildWebBundle({dir: IRIS, outputDir: other})).rejects.toMatchObject({
      code: 'OUTPUT_NOT_EMPTY',
      exitCode: 2,
    })
    expect(await readFile(path.join(other, 'notes.txt'), 'utf8')).toBe('mine')
    expect(BUNDLE_MANIFEST).toBe('mlship-web.json')
  })
})
