/**
 * Web bundles of models with image and text inputs in Debian's real Chromium (playwright-core), against the server
 * in this process. The page decodes an image with the browser (createImageBitmap + canvas) and makes the tensor with
 * the server's own pipeline, so:
 *   - a PNG (and a lossless WebP) gives the server's tensor exactly;
 *   - a JPEG can differ by the two JPEG decoders' rounding (Chromium's and libvips'); the difference is measured here
 *     and held under JPEG_TOLERANCE (in the tensor's units after mean/std), and the top-1 label must match;
 *   - text gives the server's token ids exactly.
 * Every image is made by the test (sharp), or is an example's own picture.
 */
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type {Page} from 'playwright-core'
import sharp from 'sharp'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HeadlessChromium} from '../browser/chromium.js'
import {chromiumForTests} from '../browser/test-support/chromium.js'
import {loadModelProject} from '../model/load-model.js'
import {planPreprocessing} from '../preprocess/plan.js'
import {openInputPreprocessor} from '../serving/open-preprocessor.js'
import {type RunningServer, startServer} from '../serving/server.js'
import {post} from '../serving/test-support/servers.js'
import type {TensorMap} from '../serving/tensors.js'
import {examplesDir} from '../util/paths.js'
import {buildWebBundle} from './build-web.js'
import {type StaticServer, startStaticServer} from './static-server.js'

/**
 * Largest difference allowed between the page's tensor and the server's for a JPEG, in normalised units: one 8-bit
 * step of the colour fixture (scale / std = 1/255 / 0.25). Measured: 0 on every image of this test (Debian's Chromium
 * and sharp's libvips both decode with libjpeg-turbo's defaults: integer IDCT, fancy upsampling); the test logs it.
 * Another browser's JPEG decoder may round a pixel differently: one step is what that costs at most per pixel.
 */
const JPEG_TOLERANCE = 1 / 255 / 0.25

const {chromium, skipReason} = await chromiumForTests()
if (skipReason) console.warn(`skipping the web preprocessing browser tests: ${skipReason}`)

const colourModel = path.resolve(import.meta.dirname, '../serving/fixtures/preprocess/image')
const textModel = path.resolve(import.meta.dirname, '../serving/fixtures/preprocess/text')
const digitsModel = path.join(examplesDir(), 'digits-image')
const bothModel = path.resolve(import.meta.dirname, '../serving/fixtures/preprocess/image-text')

interface Plain {
  dims: number[]
  dtype: string
  data: number[]
}

function plain(tensors: TensorMap): Record<string, Plain> {
  return Object.fromEntries(
    Object.entries(tensors).map(([name, t]) => [
      name,
      {data: Array.from(t.data as ArrayLike<number | bigint>, Number), dims: [...t.dims], dtype: t.dtype},
    ]),
  )
}

function maxDiff(a: Plain, b: Plain): number {
  expect(a.dims).toEqual(b.dims)
  expect(a.dtype).toBe(b.dtype)
  let max = 0
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i]! - b.data[i]!))
  return max
}

/** The server's tensors for a body, made by the server's own preprocessor (sharp). */
async function serverTensors(dir: string, body: unknown): Promise<Record<string, Plain>> {
  const project = await loadModelProject(dir)
  const plan = planPreprocessing(project.signature)!
  const preprocessor = await openInputPreprocessor(plan, {limits: {maxBatchSize: 64}, modelDir: project.dir})
  const record = body as {features?: unknown; inputs?: Record<string, unknown>}
  const raw = record.inputs ?? {[plan.images[0]?.input ?? plan.texts[0]!.input]: record.features}
  const rows = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]))
  return plain(await preprocessor.feeds(rows))
}

function labelsOf(classes: Array<{label: string}>): string[] {
  return classes.map((c) => c.label)
}

/** Sends the page's form and waits for its answer: the result's state and the response the page shows. */
async function submitForm(page: Page): Promise<{state: string | null; shown: any}> {
  const result = page.getByTestId('result')
  const before = Number(await result.getAttribute('data-count'))
  await page.getByTestId('predict-inputs').click()
  await page.locator(`[data-testid="result"][data-count="${before + 1}"]`).waitFor()
  return {
    shown: JSON.parse((await page.getByTestId('response').textContent()) ?? 'null'),
    state: await result.getAttribute('data-state'),
  }
}

function dataUrl(bytes: Buffer, type: string): string {
  return `data:${type};base64,${bytes.toString('base64')}`
}

/** A 41 x 27 picture with gradients, edges and a dark stroke: every resize and crop path has something to do. */
async function testPicture(): Promise<{raw: Buffer; width: number; height: number}> {
  const width = 41
  const height = 27
  const raw = Buffer.alloc(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3
      const stroke = Math.abs(x - y * 1.5) < 2
      raw[at] = stroke ? 20 : (x * 255) / (width - 1)
      raw[at + 1] = stroke ? 20 : (y * 255) / (height - 1)
      raw[at + 2] = stroke ? 30 : ((x + y) % 7) * 36
    }
  }
  return {height, raw, width}
}

describe.skipIf(!chromium)('web bundles with image and text inputs in headless Chromium', () => {
  const browser = chromium as HeadlessChromium
  let tmp: string
  const bundles: Record<string, StaticServer> = {}
  const servers: Record<string, RunningServer> = {}
  const images: Record<string, {bytes: Buffer; type: string}> = {}

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'mlship-web-preprocess-it-'))
    for (const [name, dir] of Object.entries({
      both: bothModel,
      colour: colourModel,
      digits: digitsModel,
      text: textModel,
    })) {
      await buildWebBundle({dir, outputDir: path.join(tmp, name)})
      bundles[name] = await startStaticServer({dir: path.join(tmp, name)})
      servers[name] = await startServer({dir, host: '127.0.0.1', logger: false, port: 0, serving: {workers: 1}})
    }
    const {height, raw, width} = await testPicture()
    const picture = () => sharp(raw, {raw: {channels: 3, height, width}})
    images['picture.png'] = {bytes: await picture().png().toBuffer(), type: 'image/png'}
    images['picture.webp'] = {bytes: await picture().webp({lossless: true}).toBuffer(), type: 'image/webp'}
    images['picture.jpg'] = {bytes: await picture().jpeg({quality: 90}).toBuffer(), type: 'image/jpeg'}
    const seven = await readFile(path.join(digitsModel, 'seven.jpg'))
    images['seven-small.png'] = {bytes: await sharp(seven).resize(30, 44).png().toBuffer(), type: 'image/png'}
    images['seven.jpg'] = {bytes: seven, type: 'image/jpeg'}
    images['three.png'] = {bytes: await readFile(path.join(digitsModel, 'three.png')), type: 'image/png'}
  })

  afterAll(async () => {
    await browser.close()
    for (const closer of [...Object.values(bundles), ...Object.values(servers)]) await closer.close()
    await rm(tmp, {force: true, recursive: true})
  })

  async function openPage(name: string): Promise<Page> {
    const page = await browser.newPage()
    await page.goto(`${bundles[name]!.url}/`)
    await page.locator('[data-testid="runtime"][data-state="ready"]').waitFor({timeout: 60_000})
    return page
  }

  /** The page's tensors for a body (data URLs and strings only: it crosses into the page as JSON). */
  async function pageTensors(page: Page, body: unknown): Promise<Record<string, Plain>> {
    return page.evaluate<Record<string, Plain>>(
      `import('/predict.js').then((m) => m.tensors(${JSON.stringify(body)})).then((t) => Object.fromEntries(
        Object.entries(t).map(([k, v]) => [k, {dims: v.dims, dtype: v.dtype, data: Array.from(v.data, Number)}])))`,
    )
  }

  it.each([
    {model: 'colour', dir: colourModel},
    {model: 'digits', dir: digitsModel},
  ])(
    "$model: the tensor of a PNG and a lossless WebP is the server's, a JPEG's within the tolerance",
    async ({model, dir}) => {
      const page = await openPage(model)
      try {
        const measured: Record<string, number> = {}
        for (const [file, {bytes, type}] of Object.entries(images)) {
          const body = {features: dataUrl(bytes, type)}
          const [inPage, fromServer] = await Promise.all([pageTensors(page, body), serverTensors(dir, body)])
          const [name] = Object.keys(fromServer)
          const diff = maxDiff(inPage[name!]!, fromServer[name!]!)
          measured[file] = diff
          if (type === 'image/jpeg') expect(diff).toBeLessThanOrEqual(JPEG_TOLERANCE)
          else expect(diff).toBeLessThanOrEqual(1e-6)
          const answer: any = await page.evaluate(
            `import('/predict.js').then((m) => m.predict(${JSON.stringify(body)}))`,
          )
          const expected = await post<any>(`${servers[model]!.url}/predict`, body)
          expect(answer.label).toBe(expected.body.label)
          expect(answer.top_k[0]).toMatchObject({label: expected.body.top_k[0].label})
        }
        console.info(`${model}: largest |page - server| per image, in normalised units: ${JSON.stringify(measured)}`)
      } finally {
        await page.close()
      }
    },
  )

  it('digits: a file chosen in the page is answered as the server answers it: label, score and top-k', async () => {
    const page = await openPage('digits')
    try {
      for (const file of ['seven.jpg', 'three.png', 'seven-small.png']) {
        const {bytes, type} = images[file]!
        const onDisk = path.join(tmp, file)
        await writeFile(onDisk, bytes)
        await page.getByTestId('image-image').setInputFiles(onDisk)
        const {shown, state} = await submitForm(page)
        expect(state).toBe('ok')
        const response = await fetch(`${servers.digits!.url}/predict`, {
          body: bytes,
          headers: {'content-type': type},
          method: 'POST',
        })
        const expected = (await response.json()) as any
        expect(Object.keys(shown).sort()).toEqual(Object.keys(expected).sort())
        expect(shown.label).toBe(expected.label)
        expect(labelsOf(shown.top_k)).toEqual(labelsOf(expected.top_k))
        expect(Math.abs(shown.score - expected.score)).toBeLessThanOrEqual(type === 'image/png' ? 1e-5 : 0.05)
        expect(await page.getByTestId('classes').textContent()).toContain(`${expected.label} `)
        expect(await page.locator('img[data-preview="image"]').isVisible()).toBe(true)
      }
    } finally {
      await page.close()
    }
  })

  it('digits: predict() takes a Blob, an ImageBitmap and an <img>, and refuses a non-image as the server does', async () => {
    const page = await openPage('digits')
    try {
      const url = dataUrl(images['three.png']!.bytes, 'image/png')
      const labels = await page.evaluate(`(async () => {
        const m = await import('/predict.js')
        const blob = await (await fetch(${JSON.stringify(url)})).blob()
        const bitmap = await createImageBitmap(blob)
        const img = new Image()
        img.src = ${JSON.stringify(url)}
        const answers = [await m.predict({features: blob}), await m.predict({features: bitmap}), await m.predict({inputs: {image: [img, blob]}})]
        return answers.map((a) => a.classes.map((c) => c.label))
      })()`)
      const expected = await post<any>(`${servers.digits!.url}/predict`, {features: url})
      expect(labels).toEqual([[expected.body.label], [expected.body.label], [expected.body.label, expected.body.label]])

      const notImage = {features: `data:image/png;base64,${Buffer.from('hello, not a picture').toString('base64')}`}
      const refused: any = await page.evaluate(
        `import('/predict.js').then((m) => m.predict(${JSON.stringify(notImage)})).catch((e) => ({status: e.status, message: e.message}))`,
      )
      const fromServer = await post<any>(`${servers.digits!.url}/predict`, notImage)
      expect(refused).toEqual({message: fromServer.body.error, status: fromServer.status})
    } finally {
      await page.close()
    }
  })

  it("text: the page's token ids are the server's, from its text box and from predict()", async () => {
    const page = await openPage('text')
    try {
      const reference = JSON.parse(
        await readFile(path.resolve(import.meta.dirname, '../preprocess/fixtures/text-reference.json'), 'utf8'),
      ) as {cases: Array<{text: string}>}
      const texts = reference.cases.map((c) => c.text)
      const body = {inputs: {input_ids: texts}}
      const [inPage, fromServer] = await Promise.all([pageTensors(page, body), serverTensors(textModel, body)])
      expect(inPage).toEqual(fromServer)

      await page.getByTestId('text-input_ids').fill(texts[1]!)
      const {shown} = await submitForm(page)
      const expected = await post<any>(`${servers.text!.url}/predict`, {inputs: {input_ids: texts[1]}})
      expect(shown.outputs).toEqual(expected.body.outputs)
    } finally {
      await page.close()
    }
  })

  it('an image, a text and a tensor input: the form sends the three, answered as the server answers them', async () => {
    const page = await openPage('both')
    try {
      const {bytes, type} = images['picture.png']!
      const onDisk = path.join(tmp, 'both-picture.png')
      await writeFile(onDisk, bytes)
      await page.getByTestId('image-image').setInputFiles(onDisk)
      await page.getByTestId('text-input_ids').fill('Not bad.')
      expect(await page.getByTestId('tensor-bias').inputValue()).toBe('[[0.5]]')
      await page.getByTestId('tensor-bias').fill('[[0.25]]')
      const {shown, state} = await submitForm(page)
      expect(state).toBe('ok')
      const body = {inputs: {bias: [[0.25]], image: dataUrl(bytes, type), input_ids: 'Not bad.'}}
      const expected = await post<any>(`${servers.both!.url}/predict`, body)
      expect(shown.outputs.ids).toEqual(expected.body.outputs.ids)
      expect(shown.label).toBe(expected.body.label)
      const scores = shown.outputs.scores[0] as number[]
      scores.forEach((score, i) => expect(Math.abs(score - expected.body.outputs.scores[0][i])).toBeLessThan(1e-5))
    } finally {
      await page.close()
    }
  })
})
