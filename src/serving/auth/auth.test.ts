/**
 * serving.auth on real servers (iris, on an ephemeral port of 127.0.0.1): each route group with and without keys,
 * rotation through the keys file, the rate limit on a fake clock, the metrics, and the logs of a run grepped for keys.
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {Writable} from 'node:stream'

import pino from 'pino'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {isMlshipError} from '../../errors.js'
import {readSample} from '../../monitoring/test-support/exposition.js'
import type {RunningServer, StartServerOptions} from '../server.js'
import {CLOSE_AT_ONCE, IRIS_MODEL, startTestServer, writeProject} from '../test-support/servers.js'

const KEY_OLD = 'old-key-3f9c1b7e5a2d4c6e8f0a1b2c'
const KEY_NEW = 'new-key-8d7e6f5a4b3c2d1e0f9a8b7c'
const KEY_ENV = 'env-key-0a1b2c3d4e5f6a7b8c9d0e1f'
const WRONG = 'not-a-key-a8b7c6d5e4f3a2b1c0d9e8f7'
const BODY = JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]})

let work: string
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlship-auth-'))
})
afterAll(() => rm(work, {force: true, recursive: true}))

const servers: RunningServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(CLOSE_AT_ONCE)))
})

async function serve(auth: Record<string, unknown>, extra: Partial<StartServerOptions> = {}): Promise<RunningServer> {
  const dir = await writeProject(work, 'iris', {
    model: {file: IRIS_MODEL},
    serving: {auth, workers: 1},
    signature: {
      inputs: [{dtype: 'float32', name: 'features', shape: ['batch', 4]}],
      outputs: [{dtype: 'float32', labels: ['a', 'b', 'c'], name: 'probabilities', shape: ['batch', 3]}],
    },
  })
  const server = await startTestServer(dir, {env: {}, ...extra})
  servers.push(server)
  return server
}

async function call(
  server: RunningServer,
  route: string,
  headers: Record<string, string> = {},
): Promise<{status: number; headers: Headers; text: string}> {
  const inference = route === '/predict' || route.endsWith('/infer')
  const body = route.endsWith('/infer')
    ? JSON.stringify({inputs: [{data: [5.1, 3.5, 1.4, 0.2], datatype: 'FP32', name: 'features', shape: [1, 4]}]})
    : BODY
  const response = await fetch(`${server.url}${route}`, {
    ...(inference ? {body, method: 'POST'} : {}),
    headers: {...(inference ? {'content-type': 'application/json'} : {}), ...headers},
  })
  return {headers: response.headers, status: response.status, text: await response.text()}
}

const bearer = (key: string) => ({authorization: `Bearer ${key}`})

async function keysFile(...keys: string[]): Promise<string> {
  const file = path.join(await mkdtemp(path.join(work, 'keys-')), 'api-keys')
  await writeFile(file, `${keys.join('\n')}\n`)
  return file
}

const INFERENCE = ['/predict', '/v2/models/iris/infer', '/v2/models/iris/versions/1.0.0/infer']
const PROBES = ['/health', '/ready', '/v2/health/live', '/v2/health/ready', '/v2/models/iris/ready']
const DOCS = ['/', '/docs', '/openapi.json', '/v2', '/v2/models/iris', '/docs/swagger-ui.css']

describe('serving.auth off', () => {
  it('answers every route without a key (the default)', async () => {
    const server = await serve({})
    for (const route of [...INFERENCE, ...PROBES, '/metrics', '/openapi.json']) {
      expect((await call(server, route)).status, route).toBe(200)
    }
  })
})

describe('serving.auth on, keys in the environment', () => {
  it('needs a key on the inference routes: Bearer or X-API-Key; 401 with WWW-Authenticate without one or with a wrong one', async () => {
    const server = await serve({enabled: true}, {env: {MLSHIP_API_KEYS: `${KEY_OLD},${KEY_NEW}`}})
    for (const route of INFERENCE) {
      const missing = await call(server, route)
      expect(missing.status, route).toBe(401)
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="mlship"')
      expect(JSON.parse(missing.text)).toEqual({
        error: 'an API key is needed: send Authorization: Bearer KEY or X-API-Key: KEY',
      })

      const wrong = await call(server, route, bearer(WRONG))
      expect(wrong.status, route).toBe(401)
      expect(wrong.headers.get('www-authenticate')).toBe(
        'Bearer realm="mlship", error="invalid_token", error_description="the API key is not valid"',
      )
      expect(wrong.text).not.toContain(WRONG)

      expect((await call(server, route, bearer(KEY_OLD))).status, route).toBe(200)
      expect((await call(server, route, {authorization: `bearer  ${KEY_NEW}`})).status, route).toBe(200)
      expect((await call(server, route, {'x-api-key': KEY_NEW})).status, route).toBe(200)
      expect((await call(server, route, {authorization: `Basic ${KEY_NEW}`})).status, route).toBe(401)
    }
    // A request refused for its key never reaches the model: the body is not even parsed.
    const broken = await fetch(`${server.url}/predict`, {
      body: '{not json',
      headers: {'content-type': 'application/json'},
      method: 'POST',
    })
    expect(broken.status).toBe(401)
  })

  it('leaves the probes open, protects /metrics and leaves the docs open by default', async () => {
    const server = await serve({enabled: true}, {env: {MLSHIP_API_KEYS: KEY_OLD}})
    for (const route of PROBES) expect((await call(server, route)).status, route).toBe(200)
    for (const route of DOCS) expect((await call(server, route)).status, route).toBe(200)
    expect((await call(server, '/metrics')).status).toBe(401)
    expect((await call(server, '/metrics', bearer(KEY_OLD))).status).toBe(200)
    // A path with no route is a 404 whatever the key: it reveals nothing.
    expect((await call(server, '/nothing-here')).status).toBe(404)
    // A method the route does not take is behind the key like the route.
    expect((await call(server, '/predict', {})).status).toBe(401)
  })

  it('protects the docs and opens /metrics when model.yaml says so', async () => {
    const server = await serve(
      {docs: 'protected', enabled: true, keys_env: 'IRIS_KEYS', metrics: 'open'},
      {env: {IRIS_KEYS: KEY_OLD, MLSHIP_API_KEYS: KEY_NEW}},
    )
    expect((await call(server, '/metrics')).status).toBe(200)
    for (const route of DOCS) {
      expect((await call(server, route)).status, route).toBe(401)
      expect((await call(server, route, bearer(KEY_OLD))).status, route).toBe(200)
    }
    // keys_env names the variable: MLSHIP_API_KEYS is not read.
    expect((await call(server, '/predict', bearer(KEY_NEW))).status).toBe(401)
    for (const route of PROBES) expect((await call(server, route)).status, route).toBe(200)
  })

  it('counts key checks by outcome, never by key, beside the HTTP metrics of the refusals', async () => {
    const server = await serve({enabled: true, metrics: 'open'}, {env: {MLSHIP_API_KEYS: KEY_OLD}})
    await call(server, '/predict')
    await call(server, '/predict', bearer(WRONG))
    await call(server, '/predict', bearer(WRONG))
    await call(server, '/predict', bearer(KEY_OLD))
    await call(server, '/health')
    const text = await (await fetch(`${server.url}/metrics`)).text()
    const outcome = (o: string) => readSample(text, 'mlship_auth_requests_total', {outcome: o})
    expect([outcome('accepted'), outcome('missing'), outcome('invalid'), outcome('rate_limited')]).toEqual([1, 1, 2, 0])
    expect(readSample(text, 'mlship_auth_keys')).toBe(1)
    expect(readSample(text, 'mlship_http_requests_total', {method: 'POST', route: '/predict', status: '401'})).toBe(3)
    expect(text).not.toContain(KEY_OLD)
    expect(text).not.toContain(WRONG)
    expect(text).not.toContain(KEY_OLD.slice(0, 12))
  })

  it('refuses to start with auth on and no key anywhere, saying where it looked', async () => {
    const error = await serve({enabled: true}, {env: {}}).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isMlshipError(error) && error.code).toBe('API_KEYS_MISSING')
    expect((error as Error).message).toContain('MLSHIP_API_KEYS is not set')
    expect((error as {exitCode: number}).exitCode).toBe(2)
  })
})

describe('the OpenAPI document of /docs', () => {
  interface Operation {
    security?: unknown
    responses: Record<string, {description: string}>
  }
  type Document = {
    components: {securitySchemes?: Record<string, unknown>}
    paths: Record<string, Record<string, Operation>>
  }

  it('has both ways of sending a key as security schemes (the Authorize button), required where a key is', async () => {
    const server = await serve({enabled: true, rate_limit: {requests_per_second: 5}}, {env: {MLSHIP_API_KEYS: KEY_OLD}})
    const document = JSON.parse((await call(server, '/openapi.json')).text) as Document
    expect(document.components.securitySchemes).toEqual({
      apiKey: expect.objectContaining({in: 'header', name: 'X-API-Key', type: 'apiKey'}),
      bearer: expect.objectContaining({scheme: 'bearer', type: 'http'}),
    })
    const keyed = [
      document.paths['/predict']!.post!,
      document.paths['/v2/models/{name}/infer']!.post!,
      document.paths['/v2/models/{name}/versions/{version}/infer']!.post!,
    ]
    for (const operation of keyed) {
      expect(operation.security).toEqual([{bearer: []}, {apiKey: []}])
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['200', '401', '429']))
    }
    for (const route of ['/health', '/ready', '/v2/health/live', '/v2/models/{name}', '/']) {
      const operation = document.paths[route]!.get!
      expect(operation.security, route).toBeUndefined()
      expect(operation.responses['401'], route).toBeUndefined()
    }
  })

  it('has no security schemes with auth off', async () => {
    const server = await serve({})
    const document = JSON.parse((await call(server, '/openapi.json')).text) as Document
    expect(document.components.securitySchemes).toBeUndefined()
    expect(document.paths['/predict']!.post!.security).toBeUndefined()
  })
})

describe('serving.auth on, keys in a file', () => {
  it('rotates without downtime: two keys valid at once, then only the new one; a broken file keeps the keys', async () => {
    const file = await keysFile(`# the key in use`, KEY_OLD)
    const ticks: Array<() => Promise<void>> = []
    const server = await serve(
      {enabled: true, keys_file: file, metrics: 'open'},
      {auth: {every: (_ms, task) => (ticks.push(task), () => ticks.splice(0))}, env: {MLSHIP_API_KEYS: KEY_ENV}},
    )
    const reload = () => Promise.all(ticks.map((tick) => tick()))
    const accepted = async () => {
      const result: string[] = []
      for (const [name, key] of Object.entries({env: KEY_ENV, new: KEY_NEW, old: KEY_OLD}))
        if ((await call(server, '/predict', bearer(key))).status === 200) result.push(name)
      return result
    }
    expect(ticks).toHaveLength(1)
    expect(await accepted()).toEqual(['env', 'old'])

    // Step 1 of a rotation: the new key beside the old one. Clients move over while both work.
    await writeFile(file, `${KEY_OLD}\n${KEY_NEW}\n`)
    expect(await accepted()).toEqual(['env', 'old'])
    await reload()
    expect(await accepted()).toEqual(['env', 'new', 'old'])

    // A write caught half-way (a malformed key) or an emptied file changes nothing.
    await writeFile(file, `${KEY_NEW}\nshort\n`)
    await reload()
    expect(await accepted()).toEqual(['env', 'new', 'old'])
    await writeFile(file, '')
    await reload()
    expect(await accepted()).toEqual(['env', 'new', 'old'])

    // Step 2: the old key goes.
    await writeFile(file, `${KEY_NEW}\n`)
    await reload()
    expect(await accepted()).toEqual(['env', 'new'])
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(readSample(text, 'mlship_auth_keys')).toBe(2)
  })

  it('takes MLSHIP_API_KEYS_FILE over keys_file, and refuses to start on a file it cannot read', async () => {
    const file = await keysFile(KEY_NEW)
    const server = await serve({enabled: true, keys_file: '/nonexistent/keys'}, {env: {MLSHIP_API_KEYS_FILE: file}})
    expect((await call(server, '/predict', bearer(KEY_NEW))).status).toBe(200)
    const error = await serve({enabled: true, keys_file: path.join(work, 'missing')}).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isMlshipError(error) && error.code).toBe('API_KEYS_FILE_UNREADABLE')
    expect((error as Error).message).toContain('no such file')
  })
})

describe('the per-key rate limit', () => {
  it('answers 429 with Retry-After past the burst, per key, and lets requests through again as the clock moves', async () => {
    let now = 0
    const server = await serve(
      {enabled: true, metrics: 'open', rate_limit: {burst: 2, requests_per_second: 0.5}},
      {auth: {now: () => now}, env: {MLSHIP_API_KEYS: `${KEY_OLD},${KEY_NEW}`}},
    )
    expect((await call(server, '/predict', bearer(KEY_OLD))).status).toBe(200)
    expect((await call(server, '/predict', bearer(KEY_OLD))).status).toBe(200)
    const limited = await call(server, '/predict', bearer(KEY_OLD))
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('2')
    expect(JSON.parse(limited.text)).toEqual({
      error: 'too many requests for this API key (its limit is 0.5 requests/s): retry after 2 s',
    })
    // Another key has a bucket of its own; the probes and wrong keys take no token.
    expect((await call(server, '/predict', bearer(KEY_NEW))).status).toBe(200)
    expect((await call(server, '/health')).status).toBe(200)
    expect((await call(server, '/predict', bearer(WRONG))).status).toBe(401)
    now += 1000
    expect((await call(server, '/predict', bearer(KEY_OLD))).headers.get('retry-after')).toBe('1')
    now += 1000
    expect((await call(server, '/predict', bearer(KEY_OLD))).status).toBe(200)
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(readSample(text, 'mlship_auth_requests_total', {outcome: 'rate_limited'})).toBe(2)
    expect(readSample(text, 'mlship_http_requests_total', {method: 'POST', route: '/predict', status: '429'})).toBe(2)
  })
})

describe('logs', () => {
  /** Every byte the server logged, at trace level. */
  function capture(): {logger: pino.Logger; text: () => string} {
    let text = ''
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString()
        done()
      },
    })
    return {logger: pino({level: 'trace'}, sink), text: () => text}
  }

  it('never hold a key: not on start, refusal, rate limit, reload or failure', async () => {
    const file = await keysFile(KEY_OLD)
    const ticks: Array<() => Promise<void>> = []
    const {logger, text} = capture()
    const server = await serve(
      {enabled: true, keys_file: file, rate_limit: {burst: 1, requests_per_second: 0.001}},
      {
        auth: {every: (_ms, task) => (ticks.push(task), () => {}), now: () => 0},
        env: {MLSHIP_API_KEYS: KEY_ENV},
        logger,
      },
    )
    const answers: string[] = []
    for (const headers of [
      {} as Record<string, string>,
      bearer(WRONG),
      {'x-api-key': WRONG},
      bearer(KEY_OLD),
      bearer(KEY_OLD),
      {'x-api-key': KEY_ENV},
      {authorization: `Basic ${WRONG}`},
    ]) {
      answers.push((await call(server, '/predict', headers)).text)
      answers.push((await call(server, '/metrics', headers)).text)
    }
    // A request that fails inside, with a key.
    answers.push((await call(server, '/v2/models/other/infer', bearer(KEY_ENV))).text)
    await writeFile(file, `${KEY_NEW}\nshort-${WRONG.slice(0, 5)}\n`)
    await Promise.all(ticks.map((tick) => tick()))
    await writeFile(file, `${KEY_NEW}\n`)
    await Promise.all(ticks.map((tick) => tick()))
    await servers.splice(0)[0]!.close(CLOSE_AT_ONCE)
    logger.flush()

    const logged = text()
    // The run was logged (the sink is not empty): the start, the refusals, both reloads.
    expect(logged).toContain('API keys required')
    expect(logged).toContain('"status":401')
    expect(logged).toContain('"status":429')
    expect(logged).toContain('API keys not reloaded')
    expect(logged).toContain('API keys reloaded')
    for (const secret of [KEY_OLD, KEY_NEW, KEY_ENV, WRONG]) {
      expect(logged).not.toContain(secret)
      expect(logged).not.toContain(secret.slice(0, 16))
      for (const answer of answers) expect(answer).not.toContain(secret)
    }
  })

  it('warn loudly when the server listens beyond this machine with auth off, and not on 127.0.0.1', async () => {
    const exposed = capture()
    await serve({}, {host: '0.0.0.0', logger: exposed.logger})
    const local = capture()
    await serve({}, {logger: local.logger})
    const warning = (text: string) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as {level: number; msg: string})
        .find((line) => line.msg.startsWith('API keys are off'))
    const line = warning(exposed.text())
    expect(line?.level).toBe(40)
    expect(line?.msg).toMatch(/listens on 0\.0\.0\.0:\d+: whoever reaches it can call the model/)
    expect(warning(local.text())).toBeUndefined()
    // With auth on, listening everywhere is what it is for: no warning.
    const guarded = capture()
    await serve({enabled: true}, {env: {MLSHIP_API_KEYS: KEY_OLD}, host: '0.0.0.0', logger: guarded.logger})
    expect(warning(guarded.text())).toBeUndefined()
  })
})
