import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startStaticServer} from './static-server.js'

describe('startStaticServer', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-static-'))
    await writeFile(path.join(dir, 'index.html'), '<p>hi</p>')
    await writeFile(path.join(dir, 'ort.mjs'), 'export {}')
    await writeFile(path.join(dir, 'ort.wasm'), Buffer.from([0, 97, 115, 109]))
  })
  afterAll(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  it('serves the folder with the headers of cross-origin isolation and the types browsers require', async () => {
    const server = await startStaticServer({dir, extraPages: {'/extra.html': '<p>extra</p>'}})
    try {
      const page = await fetch(`${server.url}/`)
      expect(await page.text()).toBe('<p>hi</p>')
      expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin')
      expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp')
      expect((await fetch(`${server.url}/ort.wasm`)).headers.get('content-type')).toBe('application/wasm')
      expect((await fetch(`${server.url}/ort.mjs`)).headers.get('content-type')).toMatch(/^text\/javascript/)
      const extra = await fetch(`${server.url}/extra.html`)
      expect(await extra.text()).toBe('<p>extra</p>')
      expect(extra.headers.get('cross-origin-opener-policy')).toBe('same-origin')
      expect((await fetch(`${server.url}/missing.js`)).status).toBe(404)
    } finally {
      await server.close()
    }
  })

  it('leaves the headers out when asked (the page then runs one thread)', async () => {
    const server = await startStaticServer({dir, isolate: false})
    try {
      expect((await fetch(`${server.url}/`)).headers.get('cross-origin-opener-policy')).toBeNull()
    } finally {
      await server.close()
    }
  })

  it('says when the port is taken (exit 2)', async () => {
    const first = await startStaticServer({dir})
    try {
      const port = Number(new URL(first.url).port)
      await expect(startStaticServer({dir, port})).rejects.toMatchObject({code: 'LISTEN_FAILED', exitCode: 2})
    } finally {
      await first.close()
    }
  })
})
