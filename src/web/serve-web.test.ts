import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {examplesDir} from '../util/paths.js'
import {buildWebBundle} from './build-web.js'
import {serveWeb} from './serve-web.js'

describe('serveWeb', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-serve-web-'))
  })
  afterAll(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  it('serves a built bundle with the isolation headers until told to stop', async () => {
    const bundleDir = path.join(dir, 'bundle')
    await buildWebBundle({dir: path.join(examplesDir(), 'iris'), outputDir: bundleDir})
    let page: Response | undefined
    const result = await serveWeb({
      dir: bundleDir,
      port: 0,
      until: async (server) => {
        page = await fetch(`${server.url}/index.html`)
        return 'test'
      },
    })
    expect(result).toMatchObject({
      built: false,
      bundleDir,
      crossOriginIsolated: true,
      name: 'iris-classifier',
      stoppedBy: 'test',
    })
    expect(page?.status).toBe(200)
    expect(page?.headers.get('cross-origin-embedder-policy')).toBe('require-corp')
  })

  it('builds the bundle of a model directory first, into a folder removed when it stops', async () => {
    let served: string | undefined
    const result = await serveWeb({
      dir: path.join(examplesDir(), 'iris'),
      port: 0,
      until: async (server) => {
        served = await (await fetch(`${server.url}/predict.js`)).text()
        return 'test'
      },
    })
    expect(result.built).toBe(true)
    expect(served).toContain('iris-classifier')
    await expect(import('node:fs/promises').then((fs) => fs.stat(result.bundleDir))).rejects.toThrow()
  })
})
