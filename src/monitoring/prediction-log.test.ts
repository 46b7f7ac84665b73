import {mkdir, mkdtemp, readFile, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {PredictionLog} from './prediction-log.js'

let dir: string | undefined
afterEach(async () => {
  if (dir) await rm(dir, {force: true, recursive: true})
})

describe('PredictionLog', () => {
  it('appends sampled predictions as JSON lines with inputs, outputs, version and time', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-log-'))
    const file = path.join(dir, 'logs', 'predictions.jsonl')
    const draws = [0.1, 0.9, 0.2]
    const log = await PredictionLog.open({
      directory: dir,
      path: 'logs/predictions.jsonl',
      modelName: 'm',
      modelVersion: '1.2.3',
      random: () => draws.shift()!,
      sampleRate: 0.5,
    })
    const inputs = {x: {data: Float32Array.of(1, 2), dims: [1, 2], dtype: 'float32'}}
    const outputs = {y: {data: BigInt64Array.of(7n), dims: [1], dtype: 'int64'}}
    expect([log.record(inputs, outputs, 'req-1'), log.record(inputs, outputs), log.record(inputs, outputs)]).toEqual([
      true,
      false,
      true,
    ])
    await log.close()
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatchObject({
      inputs: {x: {data: [1, 2], shape: [1, 2]}},
      model: 'm',
      model_version: '1.2.3',
      outputs: {y: {data: [7], shape: [1]}},
      request_id: 'req-1',
    })
    expect(Date.parse(lines[0]!.time as string)).toBeGreaterThan(0)
  })
})

describe('PredictionLog.open', () => {
  const options = {modelName: 'm', modelVersion: '1.0.0', sampleRate: 1}

  it('says at once, with what to do, when the log cannot be written', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-log-'))
    // A file where the log's folder should be: as root (tests in a container) permissions would not stop a write.
    await writeFile(path.join(dir, 'logs'), 'not a folder')
    const opening = PredictionLog.open({...options, directory: dir, path: 'logs/predictions.jsonl'})
    await expect(opening).rejects.toMatchObject({
      code: 'PREDICTION_LOG_NOT_WRITABLE',
      exitCode: 2,
      message: expect.stringMatching(/^the prediction log .*\/logs\/predictions\.jsonl cannot be written: /),
      suggestions: [expect.stringMatching(/MLSHIP_DATA_DIR, \/var\/lib\/mlship, a volume/), expect.any(String)],
    })
  })

  it('refuses a folder that leads out of the log directory through a symbolic link', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-log-'))
    await mkdir(path.join(dir, 'logdir'))
    await mkdir(path.join(dir, 'elsewhere'))
    await symlink(path.join(dir, 'elsewhere'), path.join(dir, 'logdir', 'logs'))
    await expect(
      PredictionLog.open({...options, directory: path.join(dir, 'logdir'), path: 'logs/predictions.jsonl'}),
    ).rejects.toThrow(/leads out of the log directory .*\(a symbolic link\)/)
  })
})
