/**
 * The browser interface against Debian's real Chromium: it launches headless with mlship's flags, loads a page from a
 * local server and runs WebAssembly in it (what the web target needs).
 */
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HeadlessChromium} from './chromium.js'
import {chromiumForTests} from './test-support/chromium.js'

const {chromium, skipReason} = await chromiumForTests()
if (skipReason) console.warn(`skipping the browser integration tests: ${skipReason}`)

// The smallest valid module that exports add(i32, i32) -> i32.
const ADD_WASM = [
  0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1,
  7, 0, 32, 0, 32, 1, 106, 11,
]

const PAGE = `<!doctype html><meta charset="utf-8"><title>wasm</title>
<output data-testid="sum">pending</output>
<script type="module">
  const bytes = new Uint8Array(${JSON.stringify(ADD_WASM)})
  const {instance} = await WebAssembly.instantiate(bytes)
  document.querySelector('[data-testid=sum]').textContent = String(instance.exports.add(40, 2))
</script>`

describe.skipIf(!chromium)('headless Chromium (playwright-core, no downloaded browser)', () => {
  const browser = chromium as HeadlessChromium
  let server: Server
  let url: string

  beforeAll(async () => {
    server = createServer((_request, response) => {
      response.writeHead(200, {'content-type': 'text/html; charset=utf-8'})
      response.end(PAGE)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  })

  afterAll(async () => {
    await browser.close()
    await new Promise((resolve) => server.close(resolve))
  })

  it('loads a page from a local server and runs its WebAssembly', async () => {
    const page = await browser.newPage()
    try {
      await page.goto(url)
      await page.getByTestId('sum').filter({hasText: '42'}).waitFor()
      expect(await page.getByTestId('sum').textContent()).toBe('42')
    } finally {
      await page.close()
    }
  })

  it('reports the version of the executable it launched', () => {
    expect(browser.version).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
    expect(browser.executablePath).toMatch(/chromium|chrome/i)
  })
})
