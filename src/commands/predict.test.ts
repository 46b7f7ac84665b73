import {runCommand} from '@oclif/test'
import {execa} from 'execa'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {builtCli, type CliCopy, productionEnv} from '../../test/test-support/cli-copy.js'
import {startServer} from '../serving/server.js'

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
  let cli: CliCopy
  beforeAll(async () => {
    cli = await builtCli()
  })
  afterAll(() => cli?.remove())

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
    const result = await execa(cli.bin, ['predict', iris, '-i', '-', '--json'], {
      env: productionEnv(),
      extendEnv: false,
      input: '{"features": [[6.7, 3.0, 5.2, 2.3]]}',
      reject: false,
    })
    expect(result.exitCode, result.stderr).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({labels: ['virginica']})

    const bad = await execa(cli.bin, ['predict', iris, '-i', '-', '--json'], {
      env: productionEnv(),
      extendEnv: false,
      input: '{"features": [[6.7',
      reject: false,
    })
    expect(bad.exitCode).toBe(2)
    expect(JSON.parse(bad.stdout)).toMatchObject({
      error: {message: expect.stringContaining('stdin (-i -) is not valid JSON')},
    })
  })
})

describe('mlship predict --image / --text', () => {
  const imageModel = path.join(repoRoot, 'src/serving/fixtures/preprocess/image')
  const textModel = path.join(repoRoot, 'src/serving/fixtures/preprocess/text')

  it('predicts from image files, one row each, with the label and top k of postprocess:', async () => {
    const {default: sharp} = await import('sharp')
    const blue = path.join(dir, 'blue.png')
    const red = path.join(dir, 'red.jpg')
    await sharp({create: {background: {b: 255, g: 0, r: 0}, channels: 3, height: 20, width: 30}}).toFile(blue)
    await sharp({create: {background: {b: 0, g: 0, r: 255}, channels: 3, height: 50, width: 10}}).toFile(red)
    const one = await runCommand(['predict', imageModel, '--image', blue], {root: repoRoot})
    expect(one.error).toBeUndefined()
    expect(one.stdout).toMatch(/^label {8}blue \(0\.\d+\)$/m)
    const two = await runCommand(['predict', imageModel, '--image', blue, '--image', red, '--json'], {root: repoRoot})
    const result = JSON.parse(two.stdout) as {predictions: number[][]; labels: string[]}
    expect(result.labels).toEqual(['blue', 'red'])
    expect(result.predictions[0]).toEqual([-2, -2, 2])
  })

  it('refuses a file that is not an image, and one that does not exist, with exit 2', async () => {
    const notImage = path.join(dir, 'notes.txt')
    await writeFile(notImage, 'not a picture')
    const bad = await runCommand(['predict', imageModel, '--image', notImage], {root: repoRoot})
    expect(bad.error?.message).toBe(
      'the input does not fit the model: input "image": not an image this server reads (it starts with "not a pictur"): send JPEG, PNG, WebP (image/jpeg, image/png, image/webp)',
    )
    expect(bad.error?.oclif?.exit).toBe(2)
    const missing = await runCommand(['predict', imageModel, '--image', path.join(dir, 'nope.png')], {root: repoRoot})
    expect(missing.error?.message).toBe(`--image ${path.join(dir, 'nope.png')}: no such file`)
  })

  it("tokenises --text with the model's tokenizer.json", async () => {
    // runCommand splits its arguments at spaces: one word per --text ("not" is 104 in text-reference.json).
    const {stdout} = await runCommand(['predict', textModel, '--text', 'Not', '--text', 'bad.', '--json'], {
      root: repoRoot,
    })
    const result = JSON.parse(stdout) as {outputs: {ids: number[][]; mask: number[][]}}
    expect(result.outputs.ids).toEqual([
      [2, 104, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [2, 101, 5, 3, 0, 0, 0, 0, 0, 0, 0, 0],
    ])
    expect(result.outputs.mask[1]).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
  })

  it('sends --image and --text together to a model with both, the tensor inputs from their examples', async () => {
    const both = path.join(repoRoot, 'src/serving/fixtures/preprocess/image-text')
    const {default: sharp} = await import('sharp')
    const blue = path.join(dir, 'blue.png')
    await sharp({create: {background: {b: 255, g: 0, r: 0}, channels: 3, height: 20, width: 30}}).toFile(blue)
    const expectBoth = (stdout: string) => {
      const result = JSON.parse(stdout) as {label: string; outputs: {scores: number[][]; ids: number[][]}}
      expect(result.label).toBe('blue')
      // The colour means plus the bias input's example (0.5).
      expect(result.outputs.scores).toEqual([[-1.5, -1.5, 2.5]])
      expect(result.outputs.ids).toEqual([[2, 104, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    }
    const here = await runCommand(['predict', both, '--image', blue, '--text', 'Not', '--json'], {root: repoRoot})
    expect(here.error).toBeUndefined()
    expectBoth(here.stdout)

    // As the workflow's smoke step sends them to the served image: --url, with model.yaml naming the inputs.
    const server = await startServer({dir: both, host: '127.0.0.1', logger: false, port: 0, serving: {workers: 1}})
    try {
      const remote = await runCommand(
        ['predict', both, '--url', server.url, '--image', blue, '--text', 'Not', '--json'],
        {root: repoRoot},
      )
      expect(remote.error).toBeUndefined()
      expectBoth(remote.stdout)
    } finally {
      await server.close()
    }

    const wrong = await runCommand(['predict', imageModel, '--image', blue, '--text', 'Not'], {root: repoRoot})
    expect(wrong.error?.message).toBe('--text: the model has no input that declares text preprocessing')
    expect(wrong.error?.oclif?.exit).toBe(2)
  })
})
