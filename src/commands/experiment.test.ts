import {runCommand} from '@oclif/test'
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {type ExperimentTree, writeExperimentTree} from '../experiment/test-support/experiment-dirs.js'
import type {RunningServer} from '../serving/server.js'
import {CLOSE_AT_ONCE, startTestServer} from '../serving/test-support/servers.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')

const EXPERIMENT = `  name: iris-v2-test
  variants:
    - {name: control, model: ., weight: 50}
    - {name: candidate, model: ../iris-v2, weight: 50}
    - {name: quantised, model: ../iris-int8, shadow: true}
  outcome: {type: binary}
  minimum_detectable_effect: 0.05
`

let tree: ExperimentTree
beforeAll(async () => {
  tree = await writeExperimentTree(EXPERIMENT, {'iris-int8': '1.0.1', 'iris-v2': '2.0.0'})
})
afterAll(() => tree.dispose())
afterEach(() => {
  process.exitCode = undefined
})

describe('mlship validate with an experiment', () => {
  it('lists the variants, each checked against this model', async () => {
    const {error, stdout} = await runCommand(['validate', tree.primary], {root: repoRoot})
    expect(error).toBeUndefined()
    expect(stdout).toContain('experiment iris-v2-test: control control, sticky none (weighted random), outcome binary')
    expect(stdout).toMatch(/candidate\s+\.\.\/iris-v2\s+2\.0\.0\s+50%/)
    expect(stdout).toMatch(/quantised\s+\.\.\/iris-int8\s+1\.0\.1\s+shadow/)
    expect(stdout).toContain('and every variant can answer its requests')
  })

  it('exits 2 at the line of a variant that does not exist', async () => {
    const broken = await writeExperimentTree(EXPERIMENT, {'iris-v2': '2.0.0'})
    try {
      const {stdout} = await runCommand(['validate', broken.primary, '--json'], {root: repoRoot})
      const {error} = JSON.parse(stdout) as {error: {code: string; exitCode: number; message: string}}
      expect(error).toMatchObject({code: 'VARIANT_NOT_FOUND', exitCode: 2})
      expect(error.message).toContain(`${broken.primary}/model.yaml:16:32 [experiment.variants[2].model]`)
    } finally {
      await broken.dispose()
    }
  })
})

describe('mlship experiment report', () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startTestServer(tree.primary)
    for (let i = 0; i < 80; i++) {
      const response = await fetch(`${server.url}/predict`, {
        body: JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]}),
        headers: {'content-type': 'application/json', 'x-request-id': `r-${i}`},
        method: 'POST',
      })
      const {variant} = (await response.json()) as {variant: string}
      // The candidate converts twice as often.
      const converted = variant === 'candidate' ? i % 5 < 2 : i % 5 === 0
      await fetch(`${server.url}/feedback`, {
        body: JSON.stringify({outcome: converted, request_id: `r-${i}`}),
        headers: {'content-type': 'application/json'},
        method: 'POST',
      })
    }
  })
  afterAll(() => server?.close(CLOSE_AT_ONCE))

  it('reports the variants, the comparison and a verdict as JSON', async () => {
    const {stdout} = await runCommand(['experiment', 'report', '--url', server.url, '--json'], {root: repoRoot})
    const report = JSON.parse(stdout)
    expect(report).toMatchObject({control: 'control', experiment: 'iris-v2-test', servers: [server.url]})
    const names = report.variants.map((v: {name: string}) => v.name)
    expect(names).toEqual(['control', 'candidate', 'quantised'])
    const requests = report.variants.reduce((sum: number, v: {requests: number}) => sum + v.requests, 0)
    expect(requests).toBe(80)
    const [comparison] = report.comparisons
    expect(comparison).toMatchObject({control: 'control', kind: 'rate', variant: 'candidate'})
    expect(typeof comparison.verdict).toBe('string')
    expect(report.verdict).toBe(comparison.verdict)
  })

  it('prints a table and the verdict', async () => {
    const {stdout} = await runCommand(['experiment', 'report', '--url', server.url], {root: repoRoot})
    expect(stdout).toMatch(/^Experiment iris-v2-test: control control, binary outcome \(maximize\); 1 server/)
    expect(stdout).toMatch(/VARIANT\s+VERSION\s+WEIGHT\s+REQUESTS/)
    expect(stdout).toMatch(/quantised\s+1\.0\.1\s+shadow/)
    expect(stdout).toMatch(/\nVerdict: /)
  })

  it('sends the API key of a server with serving.auth on, and exits 6 without one', async () => {
    const guarded = await writeExperimentTree(EXPERIMENT, {'iris-int8': '1.0.1', 'iris-v2': '2.0.0'})
    const file = path.join(guarded.primary, 'model.yaml')
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace('serving: {workers: 1}', 'serving: {workers: 1, auth: {enabled: true}}'),
    )
    const key = 'experiment-report-test-key-0123456789'
    const running = await startTestServer(guarded.primary, {env: {MLSHIP_API_KEYS: key}})
    try {
      const refused = await runCommand(['experiment', 'report', '--url', running.url, '--json'], {root: repoRoot})
      expect(JSON.parse(refused.stdout).error).toMatchObject({code: 'API_KEY_MISSING', exitCode: 6})
      process.env.MLSHIP_API_KEY = key
      const {stdout} = await runCommand(['experiment', 'report', '--url', running.url, '--json'], {root: repoRoot})
      expect(JSON.parse(stdout)).toMatchObject({experiment: 'iris-v2-test', servers: [running.url]})
    } finally {
      delete process.env.MLSHIP_API_KEY
      await running.close(CLOSE_AT_ONCE)
      await guarded.dispose()
    }
  })

  it('exits 5 when no server answers, and 2 for a server without an experiment', async () => {
    const unreachable = await runCommand(['experiment', 'report', '--url', 'http://127.0.0.1:9', '--json'], {
      root: repoRoot,
    })
    expect(JSON.parse(unreachable.stdout).error).toMatchObject({code: 'SERVER_UNREACHABLE', exitCode: 5})
    const plain = await startTestServer(path.join(repoRoot, 'examples/iris'))
    try {
      const none = await runCommand(['experiment', 'report', '--url', plain.url, '--json'], {root: repoRoot})
      expect(JSON.parse(none.stdout).error).toMatchObject({code: 'NO_EXPERIMENT', exitCode: 2})
    } finally {
      await plain.close(CLOSE_AT_ONCE)
    }
  })
})
