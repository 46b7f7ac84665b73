import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {Assigner} from '../../experiment/assignment.js'
import type {ExperimentSnapshot} from '../../experiment/snapshot.js'
import {type ExperimentTree, writeExperimentTree, writeIrisDir} from '../../experiment/test-support/experiment-dirs.js'
import {readSample} from '../../monitoring/test-support/exposition.js'
import type {RunningServer} from '../server.js'
import {CLOSE_AT_ONCE, startTestServer} from '../test-support/servers.js'

const SETOSA = [5.1, 3.5, 1.4, 0.2]
const VIRGINICA = [6.7, 3.0, 5.2, 2.3]

async function predict(server: RunningServer, headers: Record<string, string> = {}, body?: object) {
  const response = await server.app.inject({
    headers: {'content-type': 'application/json', ...headers},
    method: 'POST',
    payload: body ?? {features: [SETOSA]},
    url: '/predict',
  })
  return {body: response.json<Record<string, unknown>>(), headers: response.headers, status: response.statusCode}
}

async function feedback(server: RunningServer, body: unknown) {
  const response = await server.app.inject({method: 'POST', payload: body as object, url: '/feedback'})
  return {body: response.json<Record<string, unknown>>(), status: response.statusCode}
}

async function snapshot(server: RunningServer): Promise<ExperimentSnapshot> {
  return (await server.app.inject({method: 'GET', url: '/experiment'})).json<ExperimentSnapshot>()
}

const variantOf = (s: ExperimentSnapshot, name: string) => s.variants.find((v) => v.name === name)!

describe('an experiment with a sticky header, a shadow and binary outcomes', () => {
  let tree: ExperimentTree
  let server: RunningServer

  beforeAll(async () => {
    tree = await writeExperimentTree(
      `  name: iris-v2-test
  variants:
    - {name: control, model: ., weight: 90}
    - {name: candidate, model: ../iris-v2, weight: 10}
    - {name: quantised, model: ../iris-int8, shadow: true}
  sticky: {header: X-User-Id}
  outcome: {type: binary}
  feedback: {max_predictions: 1000, ttl_seconds: 60}
`,
      {'iris-int8': '1.0.1', 'iris-v2': '2.0.0'},
    )
    server = await startTestServer(tree.primary)
  })
  afterAll(async () => {
    await server?.close(CLOSE_AT_ONCE)
    await tree?.dispose()
  })

  it('says in every answer which variant answered, with its version and the request id', async () => {
    const answer = await predict(server, {'x-request-id': 'req-1', 'x-user-id': 'alice'})
    expect(answer.status).toBe(200)
    const variant = answer.body.variant as string
    expect(['control', 'candidate']).toContain(variant)
    expect(answer.headers['x-mlship-variant']).toBe(variant)
    expect(answer.headers['x-request-id']).toBe('req-1')
    expect(answer.body).toMatchObject({
      labels: ['setosa'],
      model_version: variant === 'control' ? '1.0.0' : '2.0.0',
      request_id: 'req-1',
    })
    // The seed contract's keys stay in their order, the experiment's next to model_version.
    expect(Object.keys(answer.body)).toEqual([
      'predictions',
      'labels',
      'model_version',
      'variant',
      'request_id',
      'latency_ms',
    ])
  })

  it('answers v2 requests with the variant next to model_version, and the header', async () => {
    const response = await server.app.inject({
      headers: {'x-mlship-variant': 'candidate'},
      method: 'POST',
      payload: {id: 'v2-1', inputs: [{data: SETOSA, datatype: 'FP32', name: 'features', shape: [1, 4]}]},
      url: '/v2/models/iris-classifier/infer',
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['x-mlship-variant']).toBe('candidate')
    const body = response.json<Record<string, unknown>>()
    expect(Object.keys(body)).toEqual(['model_name', 'model_version', 'variant', 'id', 'outputs'])
    expect(body).toMatchObject({id: 'v2-1', model_version: '2.0.0', variant: 'candidate'})
  })

  it('sends every request of one user to the variant the stable hash of the key names', async () => {
    const assigner = new Assigner({
      arms: [
        {name: 'control', weight: 90},
        {name: 'candidate', weight: 10},
      ],
      experiment: 'iris-v2-test',
    })
    const seen = new Map<string, Set<string>>()
    for (let round = 0; round < 3; round++) {
      for (let user = 0; user < 40; user++) {
        const answer = await predict(server, {'x-user-id': `user-${user}`})
        const set = seen.get(`user-${user}`) ?? new Set<string>()
        set.add(answer.body.variant as string)
        seen.set(`user-${user}`, set)
      }
    }
    for (const [user, variants] of seen) expect([...variants]).toEqual([assigner.assignKey(user)])
  })

  it('lets X-Mlship-Variant force an arm (a shadow too), and names the variants for one that does not exist', async () => {
    const forced = await predict(server, {'x-mlship-variant': 'quantised', 'x-user-id': 'alice'})
    expect(forced.body).toMatchObject({model_version: '1.0.1', variant: 'quantised'})
    const unknown = await predict(server, {'x-mlship-variant': 'b'})
    expect(unknown.status).toBe(400)
    expect(unknown.body.error).toBe(
      'unknown variant "b" in X-Mlship-Variant: this server\'s variants are control, candidate, quantised',
    )
  })

  it('never answers with the shadow, and records how often it agrees with the answer', async () => {
    const setosaSeen = async () =>
      readSample((await server.app.inject({method: 'GET', url: '/metrics'})).body, 'mlship_predictions_total', {
        class: 'setosa',
        output: 'probabilities',
        variant: 'quantised',
      }) ?? 0
    const setosaBefore = await setosaSeen()
    const before = variantOf(await snapshot(server), 'quantised').copies!
    const answered = new Set<string>()
    let sent = 0
    // A busy machine sheds copies (the shadow's budget), but one a second goes through whatever the load: requests
    // until one copy has completed.
    await vi.waitFor(
      async () => {
        const answer = await predict(server, {}, {features: [SETOSA, VIRGINICA]})
        answered.add(answer.body.variant as string)
        sent++
        // One request at a time, each copy finished (or shed) before the next.
        await vi.waitFor(
          async () => {
            const copies = variantOf(await snapshot(server), 'quantised').copies!
            expect(copies.completed + copies.shed + copies.failed).toBe(
              before.completed + before.shed + before.failed + sent,
            )
          },
          {interval: 20, timeout: 30_000},
        )
        expect(variantOf(await snapshot(server), 'quantised').copies!.completed).toBeGreaterThan(before.completed)
      },
      {interval: 100, timeout: 30_000},
    )
    expect(answered.has('quantised')).toBe(false)
    const copies = variantOf(await snapshot(server), 'quantised').copies!
    const completed = copies.completed - before.completed
    expect(completed).toBeGreaterThan(0)
    // The same model: every row it compared agreed.
    expect(copies.compared_rows - before.compared_rows).toBe(completed * 2)
    expect(copies.agreeing_rows! - (before.agreeing_rows ?? 0)).toBe(completed * 2)
    // The copies' predictions are in the shadow's prediction-distribution series, one setosa row each.
    expect((await setosaSeen()) - setosaBefore).toBe(completed)
  })

  it('joins an outcome to the variant that served the request id, once', async () => {
    const answer = await predict(server, {'x-request-id': 'conv-1', 'x-user-id': 'bob'})
    const variant = answer.body.variant as string
    const before = variantOf(await snapshot(server), variant).outcomes?.count ?? 0
    const recorded = await feedback(server, {outcome: true, request_id: 'conv-1'})
    expect(recorded.status).toBe(200)
    expect(recorded.body).toEqual({counted: true, predictions: ['setosa'], request_id: 'conv-1', variant})
    expect(variantOf(await snapshot(server), variant).outcomes!.count).toBe(before + 1)

    const again = await feedback(server, {outcome: false, request_id: 'conv-1'})
    expect(again.status).toBe(409)
  })

  it('answers 404 for an id it does not know, and 400 for an outcome of the wrong type', async () => {
    const unknown = await feedback(server, {outcome: true, request_id: 'never-served'})
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toMatch(/no prediction with request id "never-served" is remembered/)

    await predict(server, {'x-request-id': 'typed-1'})
    const wrong = await feedback(server, {outcome: 'yes', request_id: 'typed-1'})
    expect(wrong.status).toBe(400)
    expect(wrong.body.error).toBe(
      'outcome must be true or false (or 1 or 0): experiment.outcome.type is binary, got "yes" (a string)',
    )
    const rows = await feedback(server, {outcome: [true, false], request_id: 'typed-1'})
    expect(rows.status).toBe(400)
    expect(rows.body.error).toBe('the request had 1 row: send one outcome, got a list of 2')
    expect((await feedback(server, {outcome: true})).status).toBe(400)
    // Still waiting for its outcome: the refusals recorded nothing.
    expect((await feedback(server, {outcome: 1, request_id: 'typed-1'})).status).toBe(200)
  })

  it('accepts the outcome of a forced request without counting it', async () => {
    await predict(server, {'x-mlship-variant': 'candidate', 'x-request-id': 'forced-1'})
    const before = variantOf(await snapshot(server), 'candidate').outcomes?.count ?? 0
    const answer = await feedback(server, {outcome: true, request_id: 'forced-1'})
    expect(answer.body).toMatchObject({counted: false, variant: 'candidate'})
    expect(variantOf(await snapshot(server), 'candidate').outcomes?.count ?? 0).toBe(before)
  })

  it('labels the latency, error and prediction series with the variant', async () => {
    await predict(server, {'x-mlship-variant': 'candidate'})
    await predict(server, {'x-mlship-variant': 'candidate'}, {features: [[1, 2]]})
    const text = (await server.app.inject({method: 'GET', url: '/metrics'})).body
    const labels = {method: 'POST', route: '/predict', variant: 'candidate'}
    expect(readSample(text, 'mlship_http_requests_total', {...labels, status: '200'})).toBeGreaterThan(0)
    expect(readSample(text, 'mlship_http_request_duration_seconds_count', {...labels, status: '200'})).toBeGreaterThan(
      0,
    )
    expect(readSample(text, 'mlship_http_request_errors_total', {...labels, status: '400'})).toBe(1)
    expect(
      readSample(text, 'mlship_predictions_total', {class: 'setosa', output: 'probabilities', variant: 'candidate'}),
    ).toBeGreaterThan(0)
    expect(
      readSample(text, 'mlship_predictions_total', {class: 'setosa', output: 'probabilities', variant: 'quantised'}),
    ).toBeGreaterThan(0)
    expect(readSample(text, 'mlship_inference_duration_seconds_count', {variant: 'quantised'})).toBeGreaterThan(0)
    expect(
      readSample(text, 'mlship_model_info', {name: 'iris-classifier', variant: 'candidate', version: '2.0.0'}),
    ).toBe(1)
    expect(readSample(text, 'mlship_shadow_agreement_total', {result: 'agree', variant: 'quantised'})).toBeGreaterThan(
      0,
    )
  })

  it('counts the split, forced requests and errors per variant on GET /experiment', async () => {
    const s = await snapshot(server)
    expect(s).toMatchObject({alpha: 0.05, control: 'control', experiment: 'iris-v2-test', outcome: {type: 'binary'}})
    const answered = s.variants.filter((v) => !v.shadow).reduce((sum, v) => sum + v.requests, 0)
    expect(answered).toBeGreaterThan(120)
    expect(variantOf(s, 'quantised').requests).toBe(0)
    expect(variantOf(s, 'quantised').forced).toBe(1)
    expect(variantOf(s, 'candidate').client_errors).toBe(1)
  })
})

describe('an experiment without forcing, sticky by a body field', () => {
  let tree: ExperimentTree
  let server: RunningServer

  beforeAll(async () => {
    tree = await writeExperimentTree(
      `  name: fields
  variants:
    - {name: a, model: ., weight: 50}
    - {name: b, model: ../b, weight: 50}
  sticky: {field: user_id}
  force_header: false
  outcome: {type: label}
`,
      {b: '2.0.0'},
    )
    server = await startTestServer(tree.primary)
  })
  afterAll(async () => {
    await server?.close(CLOSE_AT_ONCE)
    await tree?.dispose()
  })

  it('picks the variant from the body field and ignores X-Mlship-Variant', async () => {
    const assigner = new Assigner({
      arms: [
        {name: 'a', weight: 50},
        {name: 'b', weight: 50},
      ],
      experiment: 'fields',
    })
    for (let user = 0; user < 20; user++) {
      const answer = await predict(server, {'x-mlship-variant': 'nope'}, {features: [SETOSA], user_id: user})
      expect(answer.status).toBe(200)
      expect(answer.body.variant).toBe(assigner.assignKey(String(user)))
    }
  })

  it('counts a label outcome as right or wrong against the prediction, by label or class index', async () => {
    await predict(server, {'x-request-id': 'label-1'}, {features: [SETOSA, VIRGINICA], user_id: 7})
    await predict(server, {'x-request-id': 'label-2'}, {features: [SETOSA], user_id: 7})
    expect((await feedback(server, {outcome: ['setosa', 'versicolor'], request_id: 'label-1'})).status).toBe(200)
    expect((await feedback(server, {outcome: 0, request_id: 'label-2'})).status).toBe(200)
    const wrong = await feedback(server, {outcome: true, request_id: 'label-2'})
    expect(wrong.status).toBe(400)
    const s = await snapshot(server)
    const outcomes = s.variants.find((v) => v.outcomes)!.outcomes!
    // Three rows: setosa right, virginica called versicolor wrong, setosa (class 0) right.
    expect(outcomes.count).toBe(3)
    expect(outcomes.mean).toBeCloseTo(2 / 3, 12)
  })
})

describe('a model without an experiment', () => {
  it('answers as before: no variant, no request id in the body, no /feedback', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'mlship-no-experiment-'))
    const server = await startTestServer(await writeIrisDir(path.join(root, 'plain')))
    try {
      const answer = await predict(server)
      expect(Object.keys(answer.body)).toEqual(['predictions', 'labels', 'model_version', 'latency_ms'])
      expect(answer.headers['x-mlship-variant']).toBeUndefined()
      expect((await feedback(server, {outcome: true, request_id: 'x'})).status).toBe(404)
      const text = (await server.app.inject({method: 'GET', url: '/metrics'})).body
      expect(text).not.toContain('variant=')
    } finally {
      await server.close(CLOSE_AT_ONCE)
      await rm(root, {force: true, recursive: true})
    }
  })
})
