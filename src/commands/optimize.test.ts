import {runCommand} from '@oclif/test'
import {existsSync} from 'node:fs'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {computeBaseline} from '../baseline/baseline.js'
import {quantisationSensitiveModel, uniformRows, writeModelDir} from '../optimize/test-support/models.js'
import {startServer} from '../serving/server.js'
import {CLOSE_AT_ONCE} from '../serving/test-support/servers.js'

const root = path.resolve(import.meta.dirname, '../..')
let work: string
let dir: string

beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mlship-optimize-command-'))
  dir = path.join(work, 'model')
  const {model, features, deadFeature} = quantisationSensitiveModel()
  await writeModelDir(dir, {
    classes: 3,
    features,
    model,
    name: 'sensitive',
    rows: uniformRows(3, 300, features, {low: -1, zero: [deadFeature]}),
  })
  await computeBaseline({data: path.join(dir, 'train.csv'), dir})
})
afterEach(async () => {
  process.exitCode = undefined
  await rm(work, {force: true, recursive: true})
})

describe('mlship optimize', () => {
  it('refuses below the agreement bar with exit code 2, the measured agreement in --json, and writes nothing', async () => {
    const {stdout, error} = await runCommand(['optimize', dir, '--method', 'int8', '--json'], {root})
    expect(error).toBeUndefined()
    expect(process.exitCode).toBe(2)
    const answer = JSON.parse(stdout)
    expect(answer.error.code).toBe('OPTIMIZE_BELOW_AGREEMENT')
    expect(answer.error.details.accuracy.agreement).toBeLessThan(0.5)
    expect(answer.error.message).toMatch(/agrees with the source on \d+\.\d\d% of 1001 rows/)
    expect(await readdir(work)).toEqual(['model'])
  })

  it('takes the bar in percent, and writes a model that serves like any other', async () => {
    const {stdout, error} = await runCommand(
      ['optimize', dir, '--method', 'int8', '--min-agreement', '10', '--out', path.join(work, 'small')],
      {root},
    )
    expect(error?.message).toBeUndefined()
    expect(stdout).toMatch(/agreement \d+\.\d\d% >= 10\.00%: passed/)
    expect(stdout).toMatch(/batch-1 latency \(median\)/)
    expect(stdout).toContain(`Written: ${path.join(work, 'small', 'model.onnx')}`)

    const server = await startServer({
      dir: path.join(work, 'small'),
      host: '127.0.0.1',
      logger: false,
      port: 0,
      serving: {workers: 1},
    })
    try {
      const health = await (await fetch(`${server.url}/health`)).json()
      expect(health).toEqual({status: 'healthy', version: '1.0.0'})
      const response = await fetch(`${server.url}/predict`, {
        body: JSON.stringify({features: [[0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, 0]]}),
        headers: {'content-type': 'application/json'},
        method: 'POST',
      })
      expect(response.status).toBe(200)
      expect(((await response.json()) as {labels: string[]}).labels).toHaveLength(1)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })

  it('rejects an agreement bar that is not a percentage, before any work', async () => {
    const {error} = await runCommand(['optimize', dir, '--method', 'int8', '--min-agreement', '101'], {root})
    expect(error?.message).toMatch(/not a percentage between 0 and 100/)
    expect(error?.oclif?.exit).toBe(2)
    expect(existsSync(`${dir}-int8`)).toBe(false)
  })
})
