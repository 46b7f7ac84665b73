import {runCommand} from '@oclif/test'
import {execa} from 'execa'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const iris = path.join(repoRoot, 'examples/iris')

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mlship-predict-'))
})
afterAll(() => rm(dir, {force: true, recursive: true}))
afterEach(() => {
  process.exitCode = undefined
})

describe('mlship predict --input', () => {
  it('exits 2 when a row failed, and 0 when --max-failures allows it', async () => {
    const input = path.join(dir, 'rows.jsonl')
    await writeFile(input, '[5.1, 3.5, 1.4, 0.2]\n[1, 2]\n[6.7, 3.0, 5.2, 2.3]\n')
    const output = path.join(dir, 'out.jsonl')

    const failed = await runCommand(['predict', iris, '--input', input, '--output', output, '--json'], {root: repoRoot})
    expect(JSON.parse(failed.stdout)).toMatchObject({
      error: {code: 'PREDICT_ROWS_FAILED', details: {failed: 1, rows: 3}, exitCode: 2},
    })
    expect(process.exitCode).toBe(2)

    process.exitCode = undefined
    const allowed = await runCommand(
      ['predict', iris, '--input', input, '--output', output, '--max-failures', '1', '--json'],
      {root: repoRoot},
    )
    expect(JSON.parse(allowed.stdout)).toMatchObject({failed: 1, rows: 3, succeeded: 2})
    expect(process.exitCode ?? 0).toBe(0)
  })

  it('refuses a --max-failures that is neither rows nor a percentage', async () => {
    const {error} = await runCommand(
      ['predict', iris, '--input', 'x.jsonl', '--output', 'y.jsonl', '--max-failures', 'some'],
      {root: repoRoot},
    )
    expect(error?.oclif?.exit).toBe(2)
    expect(error?.message).toContain('--max-failures some: expected a number of rows')
  })
})

describe('mlship predict -i', () => {
  it('reads the body from a file with @FILE', async () => {
    const body = path.join(dir, 'request.json')
    await writeFile(body, '{"features": [[5.1, 3.5, 1.4, 0.2]]}')
    const {stdout} = await runCommand(['predict', iris, '-i', `@${body}`, '--json'], {root: repoRoot})
    expect(JSON.parse(stdout)).toMatchObject({labels: ['setosa'], model_version: '1.0.0'})

    const missing = await runCommand(['predict', iris, '-i', '@no-such.json'], {root: repoRoot})
    expect(missing.error?.message).toBe('-i @no-such.json: no such file')
    expect(missing.error?.oclif?.exit).toBe(2)
  })

  it('reads the body from stdin with -', async () => {
    const result = await execa(path.join(repoRoot, 'bin/dev.js'), ['predict', iris, '-i', '-', '--json'], {
      input: '{"features": [[6.7, 3.0, 5.2, 2.3]]}',
      reject: false,
    })
    expect(result.exitCode, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({labels: ['virginica']})

    const bad = await execa(path.join(repoRoot, 'bin/dev.js'), ['predict', iris, '-i', '-', '--json'], {
      input: '{"features": [[6.7',
      reject: false,
    })
    expect(bad.exitCode).toBe(2)
    expect(JSON.parse(bad.stdout)).toMatchObject({
      error: {message: expect.stringContaining('stdin (-i -) is not valid JSON')},
    })
  })
})
