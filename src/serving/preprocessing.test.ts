import {readFile} from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type RunningServer, startServer} from './server.js'
import {CLOSE_AT_ONCE} from './test-support/servers.js'

const fixtures = path.join(import.meta.dirname, 'fixtures', 'preprocess')
const IMAGE_MODEL = path.join(fixtures, 'image')
const TEXT_MODEL = path.join(fixtures, 'text')

/** A solid image of one colour, encoded (made here, by sharp, so each test says what its pixels are). */
function solid(
  colour: {r: number; g: number; b: number},
  format: 'png' | 'jpeg' | 'webp',
  width = 40,
  height = 30,
): Promise<Buffer> {
  return sharp({create: {background: colour, channels: 3, height, width}})
    .toFormat(format)
    .toBuffer()
}

const RED = {b: 0, g: 0, r: 255}
const BLUE = {b: 255, g: 0, r: 0}

async function send(url: string, init: RequestInit) {
  const response = await fetch(url, {method: 'POST', ...init})
  return {body: (await response.json()) as Record<string, unknown>, status: response.status}
}

const json = (body: unknown): RequestInit => ({
  body: JSON.stringify(body),
  headers: {'content-type': 'application/json'},
})
const dataUrl = (bytes: Buffer, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`

/** The schema of one entry of "inputs" in the v2 infer request body of /openapi.json. */
async function v2InferInputSchema(serverUrl: string): Promise<{oneOf?: Array<Record<string, unknown>>}> {
  const document = (await (await fetch(`${serverUrl}/openapi.json`)).json()) as {
    paths: Record<string, {post: {requestBody: {content: Record<string, {schema: Record<string, unknown>}>}}}>
  }
  for (const route of ['/v2/models/{name}/infer', '/v2/models/{name}/versions/{version}/infer']) {
    expect(document.paths[route], route).toBeDefined()
  }
  const schema = document.paths['/v2/models/{name}/infer']!.post.requestBody.content['application/json']!.schema
  return (schema as {properties: {inputs: {items: {oneOf?: Array<Record<string, unknown>>}}}}).properties.inputs.items
}

// model.yaml: scale 1/255, mean 0.5, std 0.25, so a channel at 255 becomes 2 and one at 0 becomes -2; the model
// answers the mean of each channel, and the softmax of [2, -2, -2] gives the red class this score.
const RED_SCORE = Math.exp(2) / (Math.exp(2) + 2 * Math.exp(-2))

describe('POST /predict with images (preprocess.image in model.yaml)', () => {
  let server: RunningServer
  let url: string

  beforeAll(async () => {
    server = await startServer({dir: IMAGE_MODEL, host: '127.0.0.1', logger: false, port: 0, pipeline: false})
    url = `${server.url}/predict`
  })
  afterAll(() => server?.close(CLOSE_AT_ONCE))

  it('takes a base64 data URL in JSON and answers the tensor the model saw, the label, its score and the top k', async () => {
    const {body, status} = await send(url, json({features: dataUrl(await solid(RED, 'png'))}))
    expect(status).toBe(200)
    expect(body.predictions).toEqual([[2, -2, -2]])
    expect(body.label).toBe('red')
    expect(body.score).toBeCloseTo(RED_SCORE, 6)
    expect(body.top_k).toEqual([
      {label: 'red', score: body.score},
      {label: 'green', score: expect.closeTo((1 - RED_SCORE) / 2, 6) as number},
    ])
  })

  it('takes a list of data URLs (and bare base64) as rows, under "inputs"', async () => {
    const red = await solid(RED, 'jpeg')
    const blue = await solid(BLUE, 'webp')
    const {body, status} = await send(
      url,
      json({inputs: {image: [dataUrl(red, 'image/jpeg'), blue.toString('base64')]}}),
    )
    expect(status).toBe(200)
    expect((body.classes as Array<{label: string}>).map((c) => c.label)).toEqual(['red', 'blue'])
    expect(body.labels).toEqual(['red', 'blue'])
  })

  it('takes a multipart upload, one file per row', async () => {
    const form = new FormData()
    form.append('image', new Blob([await solid(BLUE, 'png')], {type: 'image/png'}), 'blue.png')
    form.append('image', new Blob([await solid(RED, 'png', 13, 77)], {type: 'image/png'}), 'red.png')
    const {body, status} = await send(url, {body: form})
    expect(status).toBe(200)
    expect(body.predictions).toEqual([
      [-2, -2, 2],
      [2, -2, -2],
    ])
  })

  it('takes the image as the raw body (image/*)', async () => {
    const {body, status} = await send(url, {body: await solid(BLUE, 'jpeg'), headers: {'content-type': 'image/jpeg'}})
    expect(status).toBe(200)
    expect(body.label).toBe('blue')
  })

  it('refuses a file that is not an image with 415, naming the formats it reads', async () => {
    const {body, status} = await send(url, {body: 'hello, I am text', headers: {'content-type': 'image/png'}})
    expect(status).toBe(415)
    expect(body.error).toBe(
      'input "image": not an image this server reads (it starts with "hello, I am "): send JPEG, PNG, WebP (image/jpeg, image/png, image/webp)',
    )
  })

  it('refuses a broken image with 400', async () => {
    const png = await solid(RED, 'png')
    const {body, status} = await send(url, json({features: dataUrl(png.subarray(0, 60))}))
    expect(status).toBe(400)
    expect(body.error).toBe(
      'input "image": a broken PNG file (Input buffer has corrupt header): send JPEG, PNG, WebP (image/jpeg, image/png, image/webp)',
    )
  })

  it('refuses a JPEG cut short (its header intact) with 400', async () => {
    const photo = await readFile(path.join(import.meta.dirname, '../preprocess/fixtures/photo.jpg'))
    const {body, status} = await send(url, {
      body: photo.subarray(0, photo.length / 2),
      headers: {'content-type': 'image/jpeg'},
    })
    expect(status).toBe(400)
    expect(body.error).toMatch(/^input "image": the JPEG image cannot be decoded \(.+\)$/)
  })

  it('refuses a decompression bomb from its header, before decoding it: 413', async () => {
    // 2000 x 1000 pixels of one colour compress to a few kilobytes; max_pixels is 1000000.
    const bomb = await solid(RED, 'png', 2000, 1000)
    expect(bomb.length).toBeLessThan(50_000)
    const {body, status} = await send(url, {body: bomb, headers: {'content-type': 'image/png'}})
    expect(status).toBe(413)
    expect(body.error).toBe(
      'input "image": the image is 2000 x 1000 = 2000000 pixels, over the limit of 1000000 (preprocess.image.max_pixels): send a smaller image',
    )
  })

  it('refuses a string that is not a data URL nor base64, and a number, with 400', async () => {
    const notBase64 = await send(url, json({features: 'a cat, please'}))
    expect(notBase64.status).toBe(400)
    expect(notBase64.body.error).toMatch(/^input "image": expected an image as a data URL/)
    const number = await send(url, json({inputs: {image: 3}}))
    expect(number.status).toBe(400)
    expect(number.body.error).toBe(
      'input "image": expected an image as a data URL string ("data:image/jpeg;base64,...") or a list of them',
    )
  })

  it('refuses more rows than serving.max_batch_size with 413', async () => {
    const red = dataUrl(await solid(RED, 'png'))
    const {body, status} = await send(url, json({features: [red, red, red, red, red]}))
    expect(status).toBe(413)
    expect(body.error).toBe('input "image": 5 rows, over the batch limit of 4 (serving.max_batch_size)')
  })

  it('describes the data URL, the multipart form, the raw image body and the classes in /openapi.json', async () => {
    const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, {post: {requestBody: {content: Record<string, {schema: Record<string, unknown>}>}}}>
      components: {schemas: Record<string, {oneOf?: Array<{type: string}>}>}
    }
    const content = document.paths['/predict']!.post.requestBody.content
    expect(Object.keys(content)).toEqual(['application/json', 'multipart/form-data', 'image/*'])
    expect(content['multipart/form-data']!.schema).toMatchObject({properties: {image: {type: 'array'}}})
    expect(document.components.schemas.input_image!.oneOf!.map((s) => s.type)).toEqual(['string', 'array'])
    const response = (
      document.paths['/predict']!.post as unknown as {
        responses: {'200': {content: {'application/json': {schema: {properties: Record<string, unknown>}}}}}
      }
    ).responses['200'].content['application/json'].schema
    expect(response.properties).toMatchObject({label: {enum: ['red', 'green', 'blue']}})
  })

  it('describes the image of a v2 infer request as BYTES, one base64 or data URL string per row, in /openapi.json', async () => {
    const items = await v2InferInputSchema(server.url)
    // The image model has no tensor input left: the only entry a client sends is the image.
    expect(items.oneOf).toHaveLength(1)
    expect(items.oneOf![0]).toMatchObject({
      properties: {
        data: {items: {description: expect.stringContaining('base64 or a data URL'), type: 'string'}, maxItems: 4},
        datatype: {const: 'BYTES'},
        name: {const: 'image'},
        shape: {maxItems: 1, minItems: 1, type: 'array'},
      },
      required: ['name', 'shape', 'datatype', 'data'],
    })
  })

  it('names the content types it takes when it gets another one', async () => {
    const {body, status} = await send(url, {body: 'x', headers: {'content-type': 'text/plain'}})
    expect(status).toBe(415)
    expect(body.error).toBe('unsupported content type: send the body as application/json, multipart/form-data, image/*')
  })

  it('refuses a multipart field that is not an input', async () => {
    const form = new FormData()
    form.append('picture', new Blob([await solid(RED, 'png')], {type: 'image/png'}), 'red.png')
    const {body, status} = await send(url, {body: form})
    expect(status).toBe(400)
    expect(body.error).toBe('form field "picture" is not an input of this model: image')
  })
})

describe('where images are decoded and resized', () => {
  const servers: RunningServer[] = []
  afterAll(() => Promise.all(servers.map((server) => server.close(CLOSE_AT_ONCE))))

  it('in a decode thread, also the data URLs of a large JSON body that a decode thread parsed', async () => {
    const sentToThreads: string[][] = []
    const server = await startServer({
      dir: IMAGE_MODEL,
      host: '127.0.0.1',
      largeBodies: {
        thresholdBytes: 64,
        threads: 1,
        wrap: (pool) => ({
          close: () => pool.close(),
          decode: (kind, body) => pool.decode(kind, body),
          preprocess(rows) {
            sentToThreads.push(Object.keys(rows))
            return pool.preprocess!(rows)
          },
        }),
      },
      logger: false,
      port: 0,
      pipeline: false,
    })
    servers.push(server)
    const {body, status} = await send(`${server.url}/predict`, json({features: dataUrl(await solid(BLUE, 'png'))}))
    expect(status).toBe(200)
    expect(body.predictions).toEqual([[-2, -2, 2]])
    const refused = await send(`${server.url}/predict`, {body: 'GIF89a', headers: {'content-type': 'image/gif'}})
    expect(refused.status).toBe(415)
    expect(sentToThreads).toEqual([['image'], ['image']])
  })

  it('on the HTTP thread when the server has no decode threads, with the same answers', async () => {
    const server = await startServer({
      dir: IMAGE_MODEL,
      host: '127.0.0.1',
      largeBodies: false,
      logger: false,
      port: 0,
      pipeline: false,
    })
    servers.push(server)
    const {body, status} = await send(`${server.url}/predict`, json({features: dataUrl(await solid(RED, 'png'))}))
    expect(status).toBe(200)
    expect(body.predictions).toEqual([[2, -2, -2]])
    const bomb = await send(`${server.url}/predict`, {
      body: await solid(RED, 'png', 2000, 1000),
      headers: {'content-type': 'image/png'},
    })
    expect(bomb.status).toBe(413)
  })
})

describe('POST /predict with text (preprocess.text in model.yaml)', () => {
  let server: RunningServer
  let url: string
  let reference: {
    cases: Array<{text: string; padded: {input_ids: number[]; attention_mask: number[]}}>
  }

  beforeAll(async () => {
    reference = JSON.parse(
      await readFile(path.join(import.meta.dirname, '../preprocess/fixtures/text-reference.json'), 'utf8'),
    ) as typeof reference
    server = await startServer({dir: TEXT_MODEL, host: '127.0.0.1', logger: false, port: 0, pipeline: false})
    url = `${server.url}/predict`
  })
  afterAll(() => server?.close(CLOSE_AT_ONCE))

  it('tokenises each text into input_ids and attention_mask as the Rust tokenizers do', async () => {
    const cases = reference.cases.slice(0, 2)
    const {body, status} = await send(url, json({inputs: {input_ids: cases.map((c) => c.text)}}))
    expect(status).toBe(200)
    const outputs = body.outputs as {ids: number[][]; mask: number[][]}
    expect(outputs.ids).toEqual(cases.map((c) => c.padded.input_ids))
    expect(outputs.mask).toEqual(cases.map((c) => c.padded.attention_mask))
  })

  it('takes one text as "features" and in a multipart form', async () => {
    const [first] = reference.cases
    const viaJson = await send(url, json({features: first!.text}))
    expect(viaJson.status).toBe(200)
    const form = new FormData()
    form.append('input_ids', first!.text)
    const viaForm = await send(url, {body: form})
    expect(viaForm.status).toBe(200)
    expect((viaJson.body.outputs as {ids: number[][]}).ids).toEqual([first!.padded.input_ids])
    expect((viaForm.body.outputs as {ids: number[][]}).ids).toEqual([first!.padded.input_ids])
  })

  it('leaves the attention mask, which the server fills, out of the request in /openapi.json', async () => {
    const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      components: {schemas: Record<string, unknown>}
    }
    expect(Object.keys(document.components.schemas).filter((name) => name.startsWith('input_'))).toEqual([
      'input_input_ids',
    ])
  })

  it('describes the text of a v2 infer request as BYTES strings, and not the mask, in /openapi.json', async () => {
    const items = await v2InferInputSchema(server.url)
    expect(items.oneOf).toEqual([
      expect.objectContaining({
        properties: expect.objectContaining({
          data: expect.objectContaining({items: {description: 'a text, tokenised by the server', type: 'string'}}),
          datatype: {const: 'BYTES', type: 'string'},
          name: {const: 'input_ids', type: 'string'},
        }),
      }),
    ])
  })

  it('refuses a raw image body for a text model', async () => {
    const {body, status} = await send(url, {body: await solid(RED, 'png'), headers: {'content-type': 'image/png'}})
    expect(status).toBe(415)
    expect(body.error).toBe('unsupported content type: send the body as application/json, multipart/form-data')
  })
})

describe('where texts are tokenised', () => {
  const servers: RunningServer[] = []
  afterAll(() => Promise.all(servers.map((server) => server.close(CLOSE_AT_ONCE))))

  it('a request with 1 KiB of text or more in a decode thread, shorter ones on the HTTP thread; the same ids', async () => {
    const reference = JSON.parse(
      await readFile(path.join(import.meta.dirname, '../preprocess/fixtures/text-reference.json'), 'utf8'),
    ) as {cases: Array<{text: string}>}
    const sentToThreads: string[][] = []
    const threaded = await startServer({
      dir: TEXT_MODEL,
      host: '127.0.0.1',
      largeBodies: {
        threads: 1,
        wrap: (pool) => ({
          close: () => pool.close(),
          decode: (kind, body) => pool.decode(kind, body),
          preprocess(rows) {
            sentToThreads.push(Object.keys(rows))
            return pool.preprocess!(rows)
          },
        }),
      },
      logger: false,
      pipeline: false,
      port: 0,
    })
    servers.push(threaded)
    const onLoop = await startServer({
      dir: TEXT_MODEL,
      host: '127.0.0.1',
      largeBodies: false,
      logger: false,
      pipeline: false,
      port: 0,
    })
    servers.push(onLoop)
    const short = reference.cases.map((c) => c.text)
    const long = [short.join(' ').repeat(Math.ceil(1024 / short.join(' ').length)), short[1]!]
    expect(short.join('').length).toBeLessThan(1024)
    for (const texts of [short, long]) {
      const request = json({inputs: {input_ids: texts}})
      const there = await send(`${threaded.url}/predict`, request)
      const here = await send(`${onLoop.url}/predict`, request)
      expect(there.status).toBe(200)
      expect(there.body.outputs).toEqual(here.body.outputs)
    }
    expect(sentToThreads).toEqual([['input_ids']])
  })
})

describe('the v2 protocol: images and texts as BYTES inputs', () => {
  const servers: RunningServer[] = []
  afterAll(() => Promise.all(servers.map((server) => server.close(CLOSE_AT_ONCE))))
  const serve = async (dir: string, largeBodies?: false) => {
    const server = await startServer({
      dir,
      host: '127.0.0.1',
      logger: false,
      pipeline: false,
      port: 0,
      ...(largeBodies === false ? {largeBodies} : {}),
    })
    servers.push(server)
    return server
  }
  const infer = (server: RunningServer, name: string, body: unknown) =>
    send(`${server.url}/v2/models/${name}/infer`, json(body))

  it('takes images as base64 or data URLs, one string per row, and lists the input as BYTES in the metadata', async () => {
    const server = await serve(IMAGE_MODEL)
    const red = await solid(RED, 'png')
    const blue = await solid(BLUE, 'png')
    const {body, status} = await infer(server, 'colour-of-image', {
      inputs: [{data: [dataUrl(red), blue.toString('base64')], datatype: 'BYTES', name: 'image', shape: [2]}],
    })
    expect(status).toBe(200)
    const scores = (body.outputs as Array<{name: string; data: number[]; shape: number[]}>)[0]!
    expect(scores.shape).toEqual([2, 3])
    expect(scores.data).toEqual([2, -2, -2, -2, -2, 2])
    const metadata = (await (await fetch(`${server.url}/v2/models/colour-of-image`)).json()) as {inputs: unknown[]}
    expect(metadata.inputs).toEqual([
      {datatype: 'BYTES', name: 'image', preprocess: 'image', shape: [-1], shape_text: '[batch]'},
    ])

    const wrongType = await infer(server, 'colour-of-image', {
      inputs: [{data: [1, 2], datatype: 'FP32', name: 'image', shape: [2]}],
    })
    expect(wrongType.status).toBe(400)
    expect(wrongType.body.error).toBe('input "image": expected datatype BYTES (images (base64 or data URLs)), got FP32')
    const wrongShape = await infer(server, 'colour-of-image', {
      inputs: [{data: [dataUrl(red)], datatype: 'BYTES', name: 'image', shape: [2]}],
    })
    expect(wrongShape.status).toBe(400)
    expect(wrongShape.body.error).toBe('input "image": "shape" must be [1] (one string per row), got [2]')
    const notAnImage = await infer(server, 'colour-of-image', {
      inputs: [
        {data: [Buffer.from('hello, I am text').toString('base64')], datatype: 'BYTES', name: 'image', shape: [1]},
      ],
    })
    expect(notAnImage.status).toBe(415)
  })

  it('takes texts, tokenised as on /predict, with the mask filled by the server; also from a large body', async () => {
    const reference = JSON.parse(
      await readFile(path.join(import.meta.dirname, '../preprocess/fixtures/text-reference.json'), 'utf8'),
    ) as {cases: Array<{text: string; padded: {input_ids: number[]; attention_mask: number[]}}>}
    const cases = reference.cases.slice(0, 2)
    const server = await serve(TEXT_MODEL)
    const {body, status} = await infer(server, 'token-echo', {
      inputs: [{data: cases.map((c) => c.text), datatype: 'BYTES', name: 'input_ids', shape: [2, 1]}],
    })
    expect(status).toBe(200)
    const outputs = Object.fromEntries(
      (body.outputs as Array<{name: string; data: number[]}>).map((output) => [output.name, output.data]),
    )
    expect(outputs.ids).toEqual(cases.flatMap((c) => c.padded.input_ids))
    expect(outputs.mask).toEqual(cases.flatMap((c) => c.padded.attention_mask))
    const metadata = (await (await fetch(`${server.url}/v2/models/token-echo`)).json()) as {inputs: unknown[]}
    expect(metadata.inputs).toEqual([
      {datatype: 'BYTES', name: 'input_ids', preprocess: 'text', shape: [-1], shape_text: '[batch]'},
    ])
    // A body of 256 KiB or more is parsed in a decode thread: the same split there.
    const padding = 'x'.repeat(300 * 1024)
    const large = await infer(server, 'token-echo', {
      id: padding,
      inputs: [{data: [cases[0]!.text], datatype: 'BYTES', name: 'input_ids', shape: [1]}],
    })
    expect(large.status).toBe(200)
    expect((large.body.outputs as Array<{name: string; data: number[]}>)[0]!.data).toEqual(cases[0]!.padded.input_ids)
  })
})
