import {runCommand} from '@oclif/test'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {loadConfig} from '../config/load.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
let dir: string

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mlship-baseline-'))
  for (const file of ['model.onnx', 'train.csv'])
    await cp(path.join(root, 'examples/digits-mlp', file), path.join(dir, file))
  await writeFile(
    path.join(dir, 'model.yaml'),
    '# my digits model\nname: digits\nversion: 1.0.0\nmodel:\n  file: model.onnx # the export\nmonitoring:\n  drift:\n    threshold: 0.3\n',
  )
})
afterEach(async () => {
  await rm(dir, {force: true, recursive: true})
})

describe('mlship baseline', () => {
  it('writes per-feature and per-output statistics into model.yaml, keeping its comments and settings', async () => {
    const {stdout, error} = await runCommand(
      ['baseline', dir, '--data', path.join(dir, 'train.csv'), '--ignore-column', 'label', '--json'],
      {root},
    )
    expect(error?.message).toBeUndefined()
    const result = JSON.parse(stdout) as {rows: number; written: boolean; features: unknown[]; outputs: unknown[]}
    expect(result).toMatchObject({rows: 1437, written: true})
    expect(result.features).toHaveLength(64)
    expect(result.outputs).toHaveLength(10)

    const text = await readFile(path.join(dir, 'model.yaml'), 'utf8')
    expect(text).toContain('# my digits model')
    expect(text).toContain('# the export')
    const {config} = await loadConfig(dir)
    expect(config.monitoring.drift.threshold).toBe(0.3)
    const baseline = config.monitoring.baseline!
    expect(baseline).toMatchObject({rows: 1437, source: 'train.csv'})
    expect(baseline.features[10]).toMatchObject({index: 10, input: 'pixels', max: 16, min: 0, name: 'p10'})
    for (const f of [...baseline.features, ...baseline.outputs!]) {
      expect(f.bin_fractions.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4)
      expect(f.bin_edges).toHaveLength(f.bin_fractions.length + 1)
    }
  })

  it('reads JSONL request bodies, and --dry-run leaves model.yaml alone', async () => {
    const csv = (await readFile(path.join(dir, 'train.csv'), 'utf8')).trim().split('\n').slice(1, 201)
    const rows = csv.map((line) => line.split(',').slice(0, 64).map(Number))
    const jsonl = [
      JSON.stringify({features: rows.slice(0, 100)}),
      ...rows.slice(100).map((r) => JSON.stringify({inputs: {pixels: [r]}})),
    ]
    await writeFile(path.join(dir, 'train.jsonl'), jsonl.join('\n') + '\n')
    const before = await readFile(path.join(dir, 'model.yaml'), 'utf8')
    const {stdout} = await runCommand(
      ['baseline', dir, '--data', path.join(dir, 'train.jsonl'), '--dry-run', '--no-outputs', '--json'],
      {root},
    )
    const result = JSON.parse(stdout) as {rows: number; written: boolean; outputs: unknown[]}
    expect(result).toMatchObject({outputs: [], rows: 200, written: false})
    expect(await readFile(path.join(dir, 'model.yaml'), 'utf8')).toBe(before)
  })

  it('says which line and column is wrong, and how to leave out a label column', async () => {
    const {error} = await runCommand(['baseline', dir, '--data', path.join(dir, 'train.csv')], {root})
    expect(error?.message).toMatch(/train\.csv:1: 65 feature columns, but input "pixels" takes 64 values per row/)
    expect(error?.oclif?.exit).toBe(2)
    await writeFile(
      path.join(dir, 'bad.csv'),
      `${Array.from({length: 64}, (_, i) => `p${i}`).join(',')}\n${'1,'.repeat(63)}x\n`,
    )
    const bad = await runCommand(['baseline', dir, '--data', path.join(dir, 'bad.csv')], {root})
    expect(bad.error?.message).toMatch(/bad\.csv:2: column 64 is "x", not a number/)
  })
})
