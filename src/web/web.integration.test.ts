/**
 * The web bundles of the iris and digits examples in Debian's real Chromium (playwright-core), against the server in
 * this process: the page predicts the example and held-out rows with the server's answers (within 1e-5), refuses bad
 * input with the server's 400 message, runs threads where it is cross-origin isolated, and falls back from WebGPU
 * to WebAssembly loudly. Everything the page loads comes from its own origin.
 */
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type {Page} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HeadlessChromium} from '../browser/chromium.js'
import {chromiumForTests} from '../browser/test-support/chromium.js'
import {type RunningServer, startServer} from '../serving/server.js'
import {post} from '../serving/test-support/servers.js'
import {examplesDir} from '../util/paths.js'
import {buildWebBundle} from './build-web.js'
import {type StaticServer, startStaticServer} from './static-server.js'
import {BAD_IRIS_BODIES, digitsHeldOutRows, IRIS_ROWS, maxAbsDiff} from './test-support/rows.js'

const {chromium, skipReason} = await chromiumForTests()
if (skipReason) console.warn(`skipping the web bundle browser tests: ${skipReason}`)

interface Served {
  bundle: StaticServer
  server: RunningServer
}

describe.skipIf(!chromium)('web bundles in headless Chromium', () => {
  const browser = chromium as HeadlessChromium
  let tmp: string
  const served: Record<string, Served> = {}
  let notIsolated: StaticServer
  let webgpu: StaticServer
  const closers: Array<() => Promise<unknown>> = []

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'mlship-web-it-'))
    for (const model of ['iris', 'digits-mlp']) {
      const dir = path.join(examplesDir(), model)
      const bundleDir = path.join(tmp, model)
      await buildWebBundle({dir, outputDir: bundleDir})
      const bundle = await startStaticServer({dir: bundleDir})
      const server = await startServer({dir, host: '127.0.0.1', logger: false, port: 0, serving: {workers: 1}})
      closers.push(
        () => bundle.close(),
        () => server.close(),
      )
      served[model] = {bundle, server}
    }
    notIsolated = await startStaticServer({dir: path.join(tmp, 'iris'), isolate: false})
    await buildWebBundle({backend: 'webgpu', dir: path.join(examplesDir(), 'iris'), outputDir: path.join(tmp, 'gpu')})
    webgpu = await startStaticServer({dir: path.join(tmp, 'gpu')})
    closers.push(
      () => notIsolated.close(),
      () => webgpu.close(),
    )
  })

  afterAll(async () => {
    await browser.close()
    for (const close of closers) await close()
    await rm(tmp, {force: true, recursive: true})
  })

  /** Opens the page, records every request it makes, and waits until the model is loaded. */
  async function openPage(url: string): Promise<{page: Page; requests: string[]}> {
    const page = await browser.newPage()
    const requests: string[] = []
    page.on('request', (request) => requests.push(request.url()))
    await page.goto(url)
    await page.locator('[data-testid="runtime"][data-state="ready"]').waitFor({timeout: 60_000})
    return {page, requests}
  }

  /** Submits a form and waits for its result (each result raises data-count). */
  async function submit(page: Page, button: string): Promise<{state: string; response: any; error: string}> {
    const result = page.getByTestId('result')
    const before = Number(await result.getAttribute('data-count'))
    await page.getByTestId(button).click()
    await page.locator(`[data-testid="result"][data-count="${before + 1}"]`).waitFor()
    return {
      error: (await page.getByTestId('error').textContent()) ?? '',
      response: JSON.parse((await page.getByTestId('response').textContent()) ?? 'null'),
      state: (await result.getAttribute('data-state')) ?? '',
    }
  }

  it('iris: the page predicts its example, a form row and other rows as the server does', async () => {
    const {bundle, server} = served.iris!
    const {page, requests} = await openPage(`${bundle.url}/`)
    try {
      expect(await page.evaluate('crossOriginIsolated')).toBe(true)
      expect(await page.getByTestId('runtime').textContent()).toContain('WebAssembly (SIMD)')

      const example = JSON.parse(await page.getByTestId('json').inputValue())
      const shown = await submit(page, 'predict-json')
      const expected = await post<any>(`${server.url}/predict`, example)
      expect(shown.state).toBe('ok')
      expect(maxAbsDiff(shown.response.predictions, expected.body.predictions)).toBeLessThanOrEqual(1e-5)
      expect(await page.getByTestId('labels').textContent()).toBe(expected.body.labels.join(', '))
      expect(await page.getByTestId('latency').textContent()).toMatch(/^\d+\.\d{3} ms/)

      const row = IRIS_ROWS[4]!
      const fields = page.locator('[data-testid="form"] input[data-index]')
      for (let i = 0; i < row.length; i++) await fields.nth(i).fill(String(row[i]))
      const fromForm = await submit(page, 'predict-form')
      const rowExpected = await post<any>(`${server.url}/predict`, {features: [row]})
      expect(fromForm.response.labels).toEqual(rowExpected.body.labels)
      expect(maxAbsDiff(fromForm.response.predictions, rowExpected.body.predictions)).toBeLessThanOrEqual(1e-5)

      await page.getByTestId('json').fill(JSON.stringify({features: IRIS_ROWS}))
      const rows = await submit(page, 'predict-json')
      const rowsExpected = await post<any>(`${server.url}/predict`, {features: IRIS_ROWS})
      expect(rows.response.labels).toEqual(rowsExpected.body.labels)
      expect(maxAbsDiff(rows.response.predictions, rowsExpected.body.predictions)).toBeLessThanOrEqual(1e-5)

      const origin = new URL(bundle.url).origin
      expect(requests.filter((url) => !url.startsWith(origin))).toEqual([])
    } finally {
      await page.close()
    }
  })

  it("iris: bad input in the page gets the server's 400 message, and a bad form field too", async () => {
    const {bundle, server} = served.iris!
    const {page} = await openPage(`${bundle.url}/`)
    try {
      for (const body of BAD_IRIS_BODIES.slice(0, 6)) {
        await page.getByTestId('json').fill(JSON.stringify(body))
        const shown = await submit(page, 'predict-json')
        const expected = await post<any>(`${server.url}/predict`, body)
        expect(shown.state).toBe('error')
        expect(shown.error).toBe(`400: ${expected.body.error}`)
        expect(shown.response).toEqual(expected.body)
      }
      await page.locator('[data-testid="form"] input[data-index="2"]').fill('tall')
      const fromForm = await submit(page, 'predict-form')
      const expected = await post<any>(`${server.url}/predict`, {features: [[5.1, 3.5, 'tall', 0.2]]})
      expect(fromForm.error).toBe(`400: ${expected.body.error}`)
    } finally {
      await page.close()
    }
  })

  it('digits: predict.js answers the example and 40 held-out rows as the server does, on two threads', async () => {
    const {bundle, server} = served['digits-mlp']!
    const {page} = await openPage(`${bundle.url}/?mlship-threads=2`)
    try {
      // Strings, not functions: vitest would rewrite a function's import() into its own loader.
      const runtime = await page.evaluate("import('/predict.js').then((m) => m.ready)")
      expect(runtime).toMatchObject({backend: 'wasm', crossOriginIsolated: true, threads: 2})

      const shown = await submit(page, 'predict-json')
      const example = JSON.parse(await page.getByTestId('json').inputValue())
      const expected = await post<any>(`${server.url}/predict`, example)
      expect(shown.response.labels).toEqual(expected.body.labels)
      expect(maxAbsDiff(shown.response.predictions, expected.body.predictions)).toBeLessThanOrEqual(1e-5)

      const body = {features: await digitsHeldOutRows(40)}
      const inPage: any = await page.evaluate(`import('/predict.js').then((m) => m.predict(${JSON.stringify(body)}))`)
      const fromServer = await post<any>(`${server.url}/predict`, body)
      expect(inPage.labels).toEqual(fromServer.body.labels)
      expect(maxAbsDiff(inPage.predictions, fromServer.body.predictions)).toBeLessThanOrEqual(1e-5)
    } finally {
      await page.close()
    }
  })

  it('without the isolation headers the page says so and runs one thread, whatever it asks for', async () => {
    const {page} = await openPage(`${notIsolated.url}/?mlship-threads=2`)
    try {
      expect(await page.evaluate('crossOriginIsolated')).toBe(false)
      expect(await page.getByTestId('runtime').textContent()).toContain('not cross-origin isolated: one thread')
      expect((await submit(page, 'predict-json')).state).toBe('ok')
    } finally {
      await page.close()
    }
  })

  it('a WebGPU bundle on a browser without a GPU falls back to WebAssembly, loudly, and still answers', async () => {
    const page = await browser.newPage()
    const warnings: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'warning') warnings.push(message.text())
    })
    try {
      await page.goto(`${webgpu.url}/`)
      await page.locator('[data-testid="runtime"][data-state="ready"]').waitFor({timeout: 60_000})
      await expect.poll(() => page.getByTestId('runtime-warning').isVisible()).toBe(true)
      expect(await page.getByTestId('runtime-warning').textContent()).toContain('WebGPU was asked for and is not used')
      expect(await page.getByTestId('runtime').getAttribute('data-backend')).toBe('wasm')
      expect(warnings.some((w) => w.includes('running on WebAssembly'))).toBe(true)
      const shown = await submit(page, 'predict-json')
      expect(shown.response.labels).toEqual(['setosa', 'virginica'])
    } finally {
      await page.close()
    }
  })
})
