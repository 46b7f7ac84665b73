/**
 * The serving app (app.ts) over HTTP: its routes, the contract of the seed and of KServe v2, the answers to bad
 * requests and failures, what it logs; started by startServer on an ephemeral port.
 */
import ort from 'onnxruntime-node'
import pino from 'pino'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {openApiDocument} from './openapi.js'
import type {RunningServer} from './server.js'
import {CLOSE_AT_ONCE, fixture, IRIS, post, startLocalServer} from './test-support/servers.js'

async function get(url: string) {
  const response = await fetch(url)
  return {body: (await response.json()) as Record<string, unknown>, headers: response.headers, status: response.status}
}

/** What onnxruntime itself answers, in this process, for the same feeds. */
async function ortRun(modelPath: string, feeds: Record<string, ort.Tensor>) {
  const session = await ort.InferenceSession.create(modelPath)
  return session.run(feeds)
}

describe('the iris server over HTTP', () => {
  let server: RunningServer

  beforeAll(async () => {
    server = await startLocalServer(IRIS, {serving: {bodyLimitBytes: 4096, workers: 1}})
  })
  afterAll(() => server?.close(CLOSE_AT_ONCE))

  it('keeps the seed contract: GET /health', async () => {
    const response = await fetch(`${server.url}/health`)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('{"status":"healthy","version":"1.0.0"}')
  })

  it("keeps the seed contract: POST /predict answers onnxruntime's own probabilities, the labels, the version and a measured latency", async () => {
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
    ]
    const {body, status} = await post(`${server.url}/predict`, {features: rows})
    expect(status).toBe(200)
    const expected = await ortRun(path.join(IRIS, 'model.onnx'), {
      features: new ort.Tensor('float32', Float32Array.from(rows.flat()), [2, 4]),
    })
    const probabilities = [...(expected.probabilities!.data as Float32Array)]
    expect(body.predictions).toEqual([probabilities.slice(0, 3), probabilities.slice(3, 6)])
    expect(body.labels).toEqual(['setosa', 'virginica'])
    expect(body.model_version).toBe('1.0.0')
    expect(typeof body.latency_ms).toBe('number')
    expect(body.latency_ms).toBeGreaterThan(0)
    expect(Object.keys(body)).toEqual(['predictions', 'labels', 'model_version', 'latency_ms'])
  })

  it('is ready once warmed up, and lists its routes on GET /', async () => {
    expect((await get(`${server.url}/ready`)).status).toBe(200)
    const index = await get(`${server.url}/`)
    expect(index.body.routes).toEqual(
      expect.arrayContaining([
        'GET /health',
        'POST /predict',
        'POST /v2/models/:name/infer',
        'GET /openapi.json',
        'GET /docs',
      ]),
    )
    expect(index.body.execution_provider).toBe('cpu')
  })

  it('speaks the Open Inference Protocol (KServe v2)', async () => {
    expect((await get(`${server.url}/v2`)).body).toEqual({
      extensions: [],
      name: 'mlship',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    })
    expect((await get(`${server.url}/v2/health/live`)).body).toEqual({live: true})
    expect((await get(`${server.url}/v2/health/ready`)).body).toEqual({ready: true})
    const metadata = await get(`${server.url}/v2/models/iris-classifier`)
    expect(metadata.body).toMatchObject({
      execution_provider: 'cpu',
      inputs: [{datatype: 'FP32', name: 'features', shape: [-1, 4]}],
      name: 'iris-classifier',
      outputs: [{datatype: 'FP32', name: 'probabilities', shape: [-1, 3]}],
      versions: ['1.0.0'],
    })
    expect((await get(`${server.url}/v2/models/iris-classifier/versions/1.0.0`)).status).toBe(200)
    expect((await get(`${server.url}/v2/models/iris-classifier/ready`)).body).toEqual({
      name: 'iris-classifier',
      ready: true,
    })
    expect((await get(`${server.url}/v2/models/iris-classifier/versions/1.0.0/ready`)).status).toBe(200)

    const infer = {id: 'abc', inputs: [{data: [5.1, 3.5, 1.4, 0.2], datatype: 'FP32', name: 'features', shape: [1, 4]}]}
    const flat = await post(`${server.url}/v2/models/iris-classifier/infer`, infer)
    expect(flat.status).toBe(200)
    expect(flat.body).toMatchObject({id: 'abc', model_name: 'iris-classifier', model_version: '1.0.0'})
    const [output] = flat.body.outputs as Array<Record<string, unknown>>
    expect(output).toMatchObject({datatype: 'FP32', name: 'probabilities', shape: [1, 3]})
    const seed = await post(`${server.url}/predict`, {features: [[5.1, 3.5, 1.4, 0.2]]})
    expect(output!.data).toEqual((seed.body.predictions as number[][])[0])

    const nested = await post(`${server.url}/v2/models/iris-classifier/versions/1.0.0/infer`, {
      inputs: [{data: [[5.1, 3.5, 1.4, 0.2]], datatype: 'FP32', name: 'features', shape: [1, 4]}],
      outputs: [{name: 'probabilities'}],
    })
    expect((nested.body.outputs as Array<Record<string, unknown>>)[0]!.data).toEqual(output!.data)
    expect(typeof nested.body.id).toBe('string')
  })

  it('answers v2 errors as {"error"} with a 4xx status', async () => {
    const unknownModel = await post(`${server.url}/v2/models/other/infer`, {inputs: []})
    expect(unknownModel.status).toBe(404)
    expect(unknownModel.body.error).toMatch(/unknown model "other": this server serves "iris-classifier"/)
    expect((await get(`${server.url}/v2/models/iris-classifier/versions/9.9.9`)).status).toBe(404)
    const wrongType = await post(`${server.url}/v2/models/iris-classifier/infer`, {
      inputs: [{data: [1, 2, 3, 4], datatype: 'INT32', name: 'features', shape: [1, 4]}],
    })
    expect(wrongType.status).toBe(400)
    expect(wrongType.body.error).toMatch(/input "features": expected datatype FP32 \(float32\), got INT32/)
  })

  it('refuses every bad request with the right status and a message', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{features: [[1, 2, 3]]}, /input "features": expected shape \[batch, 4\], got \[1, 3\]/],
      [{features: [1, 2, 3, 4]}, /expected rank 2/],
      [
        {
          features: [
            [1, 2, 3, 4],
            [1, 2],
          ],
        },
        /ragged/,
      ],
      [{features: [[1, 2, 'a', 4]]}, /expected a finite number/],
      [{features: []}, /empty batch/],
      [{inputs: {other: [[1]]}}, /unknown input "other"/],
      [{inputs: {}}, /missing input "features"/],
    ]
    for (const [body, message] of cases) {
      const response = await post(`${server.url}/predict`, body)
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(response.body.error).toMatch(message)
    }
    const infinite = await post(`${server.url}/predict`, '{"features": [[1, 2, 1e400, 4]]}')
    expect(infinite.status).toBe(400)
    expect(infinite.body.error).toMatch(/element \[0, 2\] is Infinity \(not a finite number\)/)
    const malformed = await post(`${server.url}/predict`, '{"features": [[1, 2')
    expect(malformed.status).toBe(400)
    expect(malformed.body.error).toMatch(/malformed JSON/)
    const empty = await post(`${server.url}/predict`, '')
    expect(empty.status).toBe(400)
    const big = await post(`${server.url}/predict`, {features: Array.from({length: 1000}, () => [1, 2, 3, 4])})
    expect(big.status).toBe(413)
    expect(big.body.error).toMatch(/too large: the limit is 4096 bytes/)
    const text = await post(`${server.url}/predict`, 'features=1', {'content-type': 'text/plain'})
    expect(text.status).toBe(415)
    const form = await post(`${server.url}/predict`, 'features=1', {
      'content-type': 'application/x-www-form-urlencoded',
    })
    expect(form.status).toBe(415)
    const missing = await get(`${server.url}/nope`)
    expect(missing.status).toBe(404)
    expect(missing.body.error).toMatch(/no route GET \/nope/)
    const method = await get(`${server.url}/predict`)
    expect(method.status).toBe(405)
    expect(method.headers.get('allow')).toBe('POST')
    const deleteHealth = await fetch(`${server.url}/health`, {method: 'DELETE'})
    expect(deleteHealth.status).toBe(405)
    // ...and it still serves the next request.
    expect((await post(`${server.url}/predict`, {features: [[5.1, 3.5, 1.4, 0.2]]})).status).toBe(200)
  })

  it('serves an OpenAPI document generated from the signature, with the example of model.yaml', async () => {
    const {body} = await get(`${server.url}/openapi.json`)
    expect(body.openapi).toBe('3.1.0')
    expect(body.info).toMatchObject({title: 'iris-classifier', version: '1.0.0'})
    const paths = body.paths as Record<string, Record<string, any>>
    expect(paths['/predict']!.post.requestBody.content['application/json'].example).toEqual({
      features: [
        [5.1, 3.5, 1.4, 0.2],
        [6.7, 3.0, 5.2, 2.3],
      ],
    })
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/health', '/ready', '/v2/models/{name}/infer']))
    const schemas = (body.components as Record<string, Record<string, any>>).schemas!
    expect(schemas.input_features).toMatchObject({
      items: {items: {type: 'number'}, maxItems: 4, minItems: 4, type: 'array'},
      type: 'array',
    })
  })

  it('answers the OpenAPI document made from its context, built on the first request and the same bytes after', async () => {
    const expected = JSON.stringify(
      openApiDocument({
        auth: server.context.project.config.serving.auth,
        description: server.context.project.config.description,
        maxBatchSize: server.context.settings.maxBatchSize,
        name: server.context.modelName,
        signature: server.context.signature,
        version: server.context.modelVersion,
      }),
    )
    const [first, second] = await Promise.all([
      fetch(`${server.url}/openapi.json`),
      fetch(`${server.url}/openapi.json`),
    ])
    const third = await fetch(`${server.url}/openapi.json`)
    for (const response of [first, second, third]) {
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(await response.text()).toBe(expected)
    }
    const head = await fetch(`${server.url}/openapi.json`, {method: 'HEAD'})
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(expected)))
  })

  it('serves an API page that works offline: every asset comes from the server itself', async () => {
    const page = await fetch(`${server.url}/docs`)
    expect(page.status).toBe(200)
    const html = await page.text()
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(assets.length).toBeGreaterThan(0)
    for (const asset of assets) {
      expect(asset).toMatch(/^\/docs\//)
      const response = await fetch(`${server.url}${asset}`)
      expect(response.status).toBe(200)
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(1000)
    }
    expect(html).not.toMatch(/https?:\/\//)
    expect(html).toMatch(/validatorUrl: null/)
  })
})

describe('any valid ONNX model', () => {
  it('serves several inputs and outputs with int64, bool and dynamic dimensions, and answers what onnxruntime answers', async () => {
    const server = await startLocalServer(fixture('multi'), {serving: {workers: 1}})
    try {
      const inputs = {
        a: [
          [
            [1, 2, 3],
            [4, 5, 6],
          ],
          [
            [0.5, 0, 1],
            [7, 8, 9],
          ],
        ],
        b: [
          [5, '9007199254740993'],
          [-1, 0],
        ],
        mask: [
          [true, false],
          [false, false],
        ],
      }
      const {body, status} = await post(`${server.url}/predict`, {inputs})
      expect(status).toBe(200)
      const expected = await ortRun(path.join(fixture('multi'), 'model.onnx'), {
        a: new ort.Tensor('float32', Float32Array.from(inputs.a.flat(2)), [2, 2, 3]),
        b: new ort.Tensor('int64', BigInt64Array.from([5n, 9_007_199_254_740_993n, -1n, 0n]), [2, 2]),
        mask: new ort.Tensor('bool', Uint8Array.from([1, 0, 0, 0]), [2, 2]),
      })
      const total = [...(expected.total!.data as Float32Array)]
      expect(body.predictions).toEqual([total.slice(0, 3), total.slice(3)])
      expect(body.labels).toEqual(['z', 'x'])
      expect(body.outputs).toEqual({
        any_set: [true, false],
        b_next: [
          [6, '9007199254740994'],
          [0, 1],
        ],
        total: [total.slice(0, 3), total.slice(3)],
      })
      expect(body.model_version).toBe('2.0.0')

      const v2 = await post(`${server.url}/v2/models/multi/infer`, {
        inputs: [
          {data: inputs.a.flat(2), datatype: 'FP32', name: 'a', shape: [2, 2, 3]},
          {data: [5, '9007199254740993', -1, 0], datatype: 'INT64', name: 'b', shape: [2, 2]},
          {data: [true, false, false, false], datatype: 'BOOL', name: 'mask', shape: [2, 2]},
        ],
        outputs: [{name: 'b_next'}, {name: 'any_set'}],
      })
      expect(v2.status).toBe(200)
      expect(v2.body.outputs).toEqual([
        {data: [6, '9007199254740994', 0, 1], datatype: 'INT64', name: 'b_next', shape: [2, 2]},
        {data: [true, false], datatype: 'BOOL', name: 'any_set', shape: [2]},
      ])
      const tooMany = await post(`${server.url}/predict`, {
        inputs: {a: Array(9).fill([[1, 2, 3]]), b: Array(9).fill([1, 2]), mask: Array(9).fill([true])},
      })
      expect(tooMany.status).toBe(400)
      expect(tooMany.body.error).toMatch(/batch of 9 rows is larger than the maximum of 8/)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })

  it('round-trips every element type exactly, float16 and strings included', async () => {
    const server = await startLocalServer(fixture('dtypes'), {serving: {workers: 1}})
    try {
      const values: Record<string, unknown[][]> = {
        in_b: [[true, false]],
        in_f16: [[1.5, -2.25]],
        in_f32: [[0.1, -3.5e10]],
        in_f64: [[0.1, 1e300]],
        in_i16: [[-32768, 32767]],
        in_i32: [[-2147483648, 7]],
        in_i64: [['-9223372036854775808', 42]],
        in_i8: [[-128, 127]],
        in_s: [['hello', 'wörld']],
        in_u16: [[0, 65535]],
        in_u32: [[0, 4294967295]],
        in_u64: [['18446744073709551615', 0]],
        in_u8: [[0, 255]],
      }
      const {body, status} = await post(`${server.url}/predict`, {inputs: values})
      expect(status, JSON.stringify(body)).toBe(200)
      const outputs = body.outputs as Record<string, unknown>
      expect(outputs.out_f32).toEqual([[Math.fround(0.1), Math.fround(-3.5e10)]])
      for (const [name, value] of Object.entries(values)) {
        if (name === 'in_f32') continue
        expect(outputs[name.replace('in_', 'out_')], name).toEqual(value)
      }

      const v2Inputs = Object.entries(values).map(([name, value]) => ({
        data: value.flat(),
        datatype: {
          b: 'BOOL',
          f16: 'FP16',
          f32: 'FP32',
          f64: 'FP64',
          i16: 'INT16',
          i32: 'INT32',
          i64: 'INT64',
          i8: 'INT8',
          s: 'BYTES',
          u16: 'UINT16',
          u32: 'UINT32',
          u64: 'UINT64',
          u8: 'UINT8',
        }[name.slice(3)],
        name,
        shape: [1, 2],
      }))
      const v2 = await post(`${server.url}/v2/models/dtypes/infer`, {inputs: v2Inputs})
      expect(v2.status, JSON.stringify(v2.body)).toBe(200)
      const byName = Object.fromEntries(
        (v2.body.outputs as Array<{name: string; datatype: string; data: unknown[]}>).map((o) => [o.name, o]),
      )
      expect(byName.out_f16).toMatchObject({data: [1.5, -2.25], datatype: 'FP16'})
      expect(byName.out_u64).toMatchObject({data: ['18446744073709551615', 0], datatype: 'UINT64'})
      expect(byName.out_s).toMatchObject({data: ['hello', 'wörld'], datatype: 'BYTES'})

      // A declared shape is checked against the data before anything is allocated for it (issue 16): 400, not 500.
      const inputs = v2Inputs.map((input) =>
        input.name === 'in_s' ? {...input, data: ['x'], shape: [1, 1e11]} : input,
      )
      const huge = await post(`${server.url}/v2/models/dtypes/infer`, {inputs})
      expect(huge.status).toBe(400)
      expect(huge.body.error).toMatch(/input "in_s": shape \[1, 100000000000\] needs 100000000000 values, got 1/)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })
})

describe('never falls over', () => {
  it('survives 400 random bodies: every one gets a 4xx or a 200, and the server still serves', async () => {
    const server = await startLocalServer(fixture('multi'), {serving: {workers: 1}})
    let seed = 42
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed / 2_147_483_648
    }
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!
    const value = (depth: number): unknown => {
      const kind = random()
      if (depth > 3 || kind < 0.3)
        return pick<unknown>([0, -1, 1.5, 1e308, '1', '', 'x', true, false, null, Number.MAX_SAFE_INTEGER + 2, -0])
      if (kind < 0.7) return Array.from({length: Math.floor(random() * 4)}, () => value(depth + 1))
      return Object.fromEntries(
        Array.from({length: Math.floor(random() * 3)}, () => [
          pick(['a', 'b', 'mask', 'features', 'inputs', '__proto__', 'x']),
          value(depth + 1),
        ]),
      )
    }
    try {
      const statuses = new Map<number, number>()
      for (let i = 0; i < 400; i++) {
        const url = pick([`${server.url}/predict`, `${server.url}/v2/models/multi/infer`])
        const body = random() < 0.5 ? {inputs: value(0)} : value(0)
        const text = random() < 0.05 ? JSON.stringify(body).slice(0, -1) : JSON.stringify(body)
        const response = await fetch(url, {
          body: text ?? 'null',
          headers: {'content-type': 'application/json'},
          method: 'POST',
        })
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
        const answer = (await response.json()) as Record<string, unknown>
        if (response.status !== 200) expect(typeof answer.error).toBe('string')
      }
      expect([...statuses.keys()].every((status) => status === 200 || (status >= 400 && status < 500))).toBe(true)
      const ok = await post(`${server.url}/predict`, {inputs: {a: [[[1, 2, 3]]], b: [[1, 2]], mask: [[true]]}})
      expect(ok.status).toBe(200)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })

  it('answers an unexpected failure with 500, a request id and no stack, and keeps serving', async () => {
    const server = await startLocalServer(IRIS, {
      serving: {workers: 1},
      wrapBackend: (backend) => ({
        close: () => backend.close(),
        info: backend.info,
        run: (feeds, options) => {
          const first = (feeds.features!.data as Float32Array)[0]
          return first === 666
            ? Promise.reject(new Error('boom\n    at secret (/app/x.js:1:1)'))
            : backend.run(feeds, options)
        },
      }),
    })
    try {
      const failed = await post(`${server.url}/predict`, {features: [[666, 1, 1, 1]]})
      expect(failed.status).toBe(500)
      expect(failed.body.error).toBe('internal error: boom')
      expect(typeof failed.body.request_id).toBe('string')
      expect(JSON.stringify(failed.body)).not.toMatch(/at secret/)
      expect((await post(`${server.url}/predict`, {features: [[5.1, 3.5, 1.4, 0.2]]})).status).toBe(200)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })
})

describe("fastify's schema compilers", () => {
  it('are never loaded: a route with a schema stops the start-up, saying why (the image bundle leaves them out)', async () => {
    const start = startLocalServer(IRIS, {
      plugins: [
        async (app) => {
          app.post('/with-schema', {schema: {body: {type: 'object'}}}, () => 'ok')
        },
      ],
      serving: {workers: 1},
    })
    await expect(start).rejects.toThrow(/the serving app has a schema: fastify's schema compilers are left out/)
  })
})

describe('what the server logs and echoes', () => {
  it('takes a short x-request-id as it is, and replaces a long or odd one; a missing route is not a warning', async () => {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino(
      {base: undefined, level: 'debug'},
      {write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>)},
    )
    const server = await startLocalServer(IRIS, {logger, serving: {workers: 1}})
    try {
      const infer = (requestId: string) =>
        post(
          `${server.url}/v2/models/iris-classifier/infer`,
          {inputs: [{data: [5.1, 3.5, 1.4, 0.2], datatype: 'FP32', name: 'features', shape: [1, 4]}]},
          {'content-type': 'application/json', 'x-request-id': requestId},
        )
      const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e'
      expect((await infer(uuid)).body.id).toBe(uuid)
      // The request's line carries its id (each request's logger is made on its first line: request-logger.ts).
      expect(lines.find((line) => line.reqId === uuid)).toMatchObject({msg: 'request', status: 200})
      for (const hostile of ['x'.repeat(129), '<script>alert(1)</script>', 'a b', '"quoted"']) {
        const {body, status} = await infer(hostile)
        expect(status).toBe(200)
        expect(body.id).not.toBe(hostile)
        expect(body.id).toMatch(/^[\w-]{1,128}$/)
      }
      expect(lines.some((line) => JSON.stringify(line).includes('<script>'))).toBe(false)

      expect((await fetch(`${server.url}/favicon.ico`)).status).toBe(404)
      const favicon = lines.find((line) => line.route === '/favicon.ico')
      expect(favicon).toMatchObject({level: 20, msg: 'no such route', status: 404})
      expect((await post(`${server.url}/predict`, {features: [[1]]})).status).toBe(400)
      expect(lines.find((line) => line.route === '/predict')).toMatchObject({level: 40, msg: 'request refused'})
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })
})

describe('request lines at high rates', () => {
  const served = async (requestLogPerSecond: number | 'all', successes: number) => {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino(
      {base: undefined, level: 'info'},
      {write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>)},
    )
    const server = await startLocalServer(IRIS, {logger, serving: {requestLogPerSecond, workers: 1}})
    try {
      for (let i = 0; i < successes; i++) {
        expect((await post(`${server.url}/predict`, {features: [[5.1, 3.5, 1.4, 0.2]]})).status).toBe(200)
      }
      for (let i = 0; i < 3; i++) expect((await post(`${server.url}/predict`, {features: [[1]]})).status).toBe(400)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
    const requests = lines.filter((line) => line.route === '/predict')
    const summaries = lines.filter((line) => 'requests_not_logged' in line)
    return {
      logged: requests.filter((line) => line.msg === 'request').length,
      notLogged: summaries.reduce((sum, line) => sum + (line.requests_not_logged as number), 0),
      refused: requests.filter((line) => line.msg === 'request refused').length,
      summaries,
    }
  }

  it('past the budget counts successful requests instead of logging them, and says how many; errors all logged', async () => {
    const {logged, notLogged, refused, summaries} = await served(2, 12)
    // However the requests fall into seconds, each success is either logged or counted, and more than two a second
    // never all get a line.
    expect(logged + notLogged).toBe(12)
    expect(notLogged).toBeGreaterThan(0)
    expect(refused).toBe(3)
    expect(summaries[0]).toMatchObject({level: 30, request_log_per_second: 2})
  })

  it('"all" logs every request', async () => {
    expect(await served('all', 12)).toEqual({logged: 12, notLogged: 0, refused: 3, summaries: []})
  })
})

describe('values the model refuses while it runs', () => {
  it('answers 422 with what onnxruntime said, not 500, and only the request at fault', async () => {
    const lines: Array<Record<string, unknown>> = []
    const logger = pino(
      {base: undefined},
      {write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>)},
    )
    const server = await startLocalServer(fixture('embedding'), {logger, serving: {workers: 1}})
    try {
      const bad = await post(`${server.url}/predict`, {features: [[1, 500]]})
      expect(bad.status).toBe(422)
      expect(bad.body.error).toBe(
        'the model cannot run on this input: Gather node: indices element out of data bounds, idx=500 must be within the inclusive range [-100,99]',
      )
      const v2 = await post(`${server.url}/v2/models/embedding/infer`, {
        inputs: [{data: [-101, 0], datatype: 'INT64', name: 'ids', shape: [1, 2]}],
      })
      expect(v2.status).toBe(422)
      // Sent together (one batch when the batcher merges them): the good requests still get their predictions.
      const together = await Promise.all([
        post(`${server.url}/predict`, {features: [[1, 2]]}),
        post(`${server.url}/predict`, {features: [[3, 700]]}),
        post(`${server.url}/predict`, {features: [[4, 5]]}),
      ])
      expect(together.map((r) => r.status)).toEqual([200, 422, 200])
      expect(together[0].body.predictions).toEqual([[3, 6, 9]])
      expect(together[2].body.predictions).toEqual([[9, 18, 27]])
      expect(lines.filter((line) => line.level === 50)).toEqual([])
      expect(lines.filter((line) => line.status === 422)).toHaveLength(3)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })
})
