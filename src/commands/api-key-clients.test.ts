/**
 * The clients of a server with serving.auth on: predict --url and bench --url send the key from MLSHIP_API_KEY (or
 * --api-key-stdin), say plainly when it is missing or refused (exit 6), and bench --local mints its own.
 */
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'
import {format} from 'node:util'

import {runCommand as oclifRunCommand} from '@oclif/test'
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest'

import {apiKeyFromFlags} from '../flags/api-key.js'
import type {RunningServer} from '../serving/server.js'
import {CLOSE_AT_ONCE, IRIS_MODEL, startTestServer, writeProject} from '../serving/test-support/servers.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const KEY = 'client-test-key-5e4d3c2b1a0f9e8d'

/** oclif prints through console.log/console.error, which vitest intercepts before @oclif/test can capture it. */
async function runCommand(args: string[]) {
  const stdout: string[] = []
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void stdout.push(format(...parts)))
  const error = vi.spyOn(console, 'error').mockImplementation(() => {})
  try {
    const result = await oclifRunCommand(args, {root: repoRoot})
    return {...result, stdout: stdout.join('\n')}
  } finally {
    log.mockRestore()
    error.mockRestore()
  }
}

let work: string
let dir: string
let server: RunningServer
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mlship-clients-'))
  dir = await writeProject(work, 'iris', {
    model: {file: IRIS_MODEL},
    serving: {auth: {enabled: true, keys_env: 'CLIENT_TEST_KEYS'}, workers: 1},
    signature: {
      inputs: [{dtype: 'float32', example: [[5.1, 3.5, 1.4, 0.2]], name: 'features', shape: ['batch', 4]}],
      outputs: [{dtype: 'float32', labels: ['a', 'b', 'c'], name: 'probabilities', shape: ['batch', 3]}],
    },
  })
  server = await startTestServer(dir, {env: {CLIENT_TEST_KEYS: KEY}})
})
afterAll(async () => {
  await server?.close(CLOSE_AT_ONCE)
  await rm(work, {force: true, recursive: true})
})
afterEach(() => {
  Reflect.deleteProperty(process.env, 'MLSHIP_API_KEY')
  process.exitCode = undefined
})

describe('mlship predict --url with serving.auth on', () => {
  it('sends MLSHIP_API_KEY, and says whether the key was missing or refused (exit 6), never echoing it', async () => {
    const missing = await runCommand(['predict', '--url', server.url, '-i', '[[5.1,3.5,1.4,0.2]]', '--json'])
    expect(JSON.parse(missing.stdout)).toMatchObject({error: {code: 'API_KEY_MISSING', exitCode: 6}})
    expect(missing.stdout).toContain('MLSHIP_API_KEY')

    process.env.MLSHIP_API_KEY = 'a-wrong-key-000000000000'
    const refused = await runCommand(['predict', '--url', server.url, '-i', '[[5.1,3.5,1.4,0.2]]', '--json'])
    expect(JSON.parse(refused.stdout)).toMatchObject({error: {code: 'API_KEY_REFUSED', exitCode: 6}})
    expect(refused.stdout).not.toContain('a-wrong-key')

    process.env.MLSHIP_API_KEY = KEY
    const ok = await runCommand(['predict', dir, '--url', server.url, '--example', '--json'])
    expect(JSON.parse(ok.stdout)).toMatchObject({model_version: '1.0.0', predictions: [expect.any(Array)]})
  })

  it('takes --api-key-stdin only with --url, and not beside -i - (both read stdin)', async () => {
    const alone = await runCommand(['predict', dir, '--example', '--api-key-stdin'])
    expect(alone.error?.message).toMatch(/--url/)
    const both = await runCommand(['predict', '--url', server.url, '-i', '-', '--api-key-stdin'])
    expect(both.error?.message).toContain('--api-key-stdin and -i - both read stdin')
  })
})

describe('mlship bench with serving.auth on', () => {
  const fixedRate = ['--rate', '20', '--duration', '1', '--warmup', '0', '--json']

  it('--url sends MLSHIP_API_KEY with every request, and stops before any load without it (exit 6)', async () => {
    const missing = await runCommand(['bench', dir, '--url', server.url, ...fixedRate])
    expect(JSON.parse(missing.stdout)).toMatchObject({error: {code: 'API_KEY_MISSING', exitCode: 6}})

    process.env.MLSHIP_API_KEY = KEY
    const {stdout} = await runCommand(['bench', dir, '--url', server.url, ...fixedRate])
    const result = JSON.parse(stdout) as {runs: Array<{steps: Array<{ok: number; errors: {total: number}}>}>}
    expect(result.runs[0]!.steps[0]!.errors.total).toBe(0)
    expect(result.runs[0]!.steps[0]!.ok).toBeGreaterThan(0)
  })

  it('--local benchmarks a model with auth on through its keys, with a key of its own', async () => {
    const {stdout} = await runCommand(['bench', dir, '--local', '--workers', '1', ...fixedRate])
    const result = JSON.parse(stdout) as {runs: Array<{steps: Array<{ok: number; errors: {total: number}}>}>}
    expect(result.runs[0]!.steps[0]!.errors.total).toBe(0)
    expect(result.runs[0]!.steps[0]!.ok).toBeGreaterThan(0)
  })
})

describe('apiKeyFromFlags', () => {
  it('reads stdin with --api-key-stdin (one trailing newline dropped), else MLSHIP_API_KEY, else none', async () => {
    expect(await apiKeyFromFlags({'api-key-stdin': true}, {}, Readable.from([`${KEY}\n`]))).toBe(KEY)
    expect(await apiKeyFromFlags({}, {MLSHIP_API_KEY: KEY}, Readable.from([]))).toBe(KEY)
    expect(await apiKeyFromFlags({}, {}, Readable.from([]))).toBeUndefined()
    await expect(apiKeyFromFlags({'api-key-stdin': true}, {}, Readable.from([]))).rejects.toMatchObject({
      code: 'API_KEY_STDIN_EMPTY',
      exitCode: 2,
    })
  })
})
