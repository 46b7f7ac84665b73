/** The bundled examples do what their READMEs say, served in-process as `mlship serve --local` serves them. */
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type RunningServer, startServer} from '../src/serving/server.js'
import {CLOSE_AT_ONCE} from '../src/serving/test-support/servers.js'

const DIGITS_IMAGE = path.resolve(import.meta.dirname, '..', 'examples', 'digits-image')

describe('examples/digits-image: a CNN that reads a picture of a digit (preprocess.image in model.yaml)', () => {
  let server: RunningServer
  let url: string
  const picture = (name: string) => readFile(path.join(DIGITS_IMAGE, name))

  beforeAll(async () => {
    server = await startServer({dir: DIGITS_IMAGE, host: '127.0.0.1', logger: false, port: 0, pipeline: false})
    url = `${server.url}/predict`
  })
  afterAll(() => server?.close(CLOSE_AT_ONCE))

  it('reads the 3 sent as a raw PNG body', async () => {
    const response = await fetch(url, {
      body: await picture('three.png'),
      headers: {'content-type': 'image/png'},
      method: 'POST',
    })
    const body = (await response.json()) as {label: string; score: number; top_k: Array<{label: string}>}
    expect(response.status).toBe(200)
    expect(body.label).toBe('3')
    expect(body.score).toBeGreaterThan(0.9)
    expect(body.top_k).toHaveLength(3)
  })

  it('reads the 3 and the 7 uploaded together as a multipart form, one row each', async () => {
    const form = new FormData()
    form.append('image', new Blob([await picture('three.png')], {type: 'image/png'}), 'three.png')
    form.append('image', new Blob([await picture('seven.jpg')], {type: 'image/jpeg'}), 'seven.jpg')
    const response = await fetch(url, {body: form, method: 'POST'})
    expect(response.status).toBe(200)
    expect(((await response.json()) as {labels: string[]}).labels).toEqual(['3', '7'])
  })

  it('reads the 7 sent as a data URL in JSON', async () => {
    const seven = `data:image/jpeg;base64,${(await picture('seven.jpg')).toString('base64')}`
    const response = await fetch(url, {
      body: JSON.stringify({inputs: {image: [seven]}}),
      headers: {'content-type': 'application/json'},
      method: 'POST',
    })
    expect(response.status).toBe(200)
    expect(((await response.json()) as {label: string}).label).toBe('7')
  })
})
