import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import ort from 'onnxruntime-node'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {parseFailureBudget, predictBatch} from './batch.js'

const root = path.resolve(fileURLToPath(import.meta.url), '../../..')
const IRIS = path.join(root, 'examples/iris')
const MULTI = path.join(root, 'test/fixtures/multi')

describe('predictBatch', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-batch-'))
  })
  afterAll(() => rm(dir, {force: true, recursive: true}))

  const lines = async (file: string) =>
    (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)

  it("writes one line per JSONL row, in order, with onnxruntime's own predictions; bad rows get their line number", async () => {
    const rows = Array.from({length: 600}, (_, i) => [4 + (i % 30) / 10, 3, 1 + (i % 50) / 10, (i % 25) / 10])
    const text = rows.map((r, i) => (i === 4 ? 'not json' : i === 9 ? '[1, 2]' : JSON.stringify(r))).join('\n') + '\n\n'
    const input = path.join(dir, 'rows.jsonl')
    const output = path.join(dir, 'out.jsonl')
    await writeFile(input, text)
    const errors: Array<{line: number; message: string}> = []
    const result = await predictBatch({
      batchSize: 64,
      dir: IRIS,
      failureBudget: {rows: 2},
      input,
      onRowError: (e) => errors.push(e),
      output,
    })
    expect(result).toMatchObject({batchSize: 64, failed: 2, format: 'jsonl', rows: 600, succeeded: 598})
    expect(errors.map((e) => e.line)).toEqual([5, 10])
    expect(errors[1]!.message).toMatch(/input "features": expected shape \[batch, 4\], got \[1, 2\]/)
    const out = await lines(output)
    expect(out).toHaveLength(600)
    expect(out.map((l) => l.line)).toEqual(rows.map((_, i) => i + 1))
    expect(out[4]).toEqual({error: expect.stringMatching(/not valid JSON/), line: 5})

    const session = await ort.InferenceSession.create(path.join(IRIS, 'model.onnx'))
    const good = rows.filter((_, i) => i !== 4 && i !== 9)
    const expected = await session.run({
      features: new ort.Tensor('float32', Float32Array.from(good.flat()), [good.length, 4]),
    })
    const probabilities = expected.probabilities!.data as Float32Array
    const predicted = out.filter((l) => l.predictions).map((l) => l.predictions as number[])
    expect(predicted.flat()).toEqual([...probabilities])
    expect(out[0]!.label).toMatch(/setosa|versicolor|virginica/)
  })

  it('reads CSV with or without a header', async () => {
    const input = path.join(dir, 'rows.csv')
    const output = path.join(dir, 'csv.jsonl')
    await writeFile(
      input,
      'sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n6.7,x,5.2,2.3\n',
    )
    const result = await predictBatch({dir: IRIS, failureBudget: {rows: 1}, input, output})
    expect(result).toMatchObject({failed: 1, format: 'csv', rows: 3})
    const out = await lines(output)
    expect(out.map((l) => l.label ?? l.error)).toEqual([
      'setosa',
      'virginica',
      expect.stringMatching(/element \[0, 1\] is "x"/),
    ])
    expect(out[2]!.line).toBe(4)
  })

  it('runs multi-input rows, grouping rows whose dynamic dimensions differ', async () => {
    const input = path.join(dir, 'multi.jsonl')
    const output = path.join(dir, 'multi-out.jsonl')
    await writeFile(
      input,
      [
        {a: [[1, 2, 3]], b: [1, 2], mask: [true]},
        {
          a: [
            [1, 2, 3],
            [4, 5, 6],
          ],
          b: [3, 4],
          mask: [true, true],
        },
        {inputs: {a: [[1, 1, 1]], b: [5, 6], mask: [false]}},
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    )
    const result = await predictBatch({dir: MULTI, input, output})
    expect(result).toMatchObject({failed: 0, rows: 3})
    const out = await lines(output)
    expect(out.map((l) => l.predictions)).toEqual([
      [1, 2, 3],
      [5, 7, 9],
      [0, 0, 0],
    ])
    expect(out[1]!.outputs).toEqual({any_set: true, b_next: [4, 5], total: [5, 7, 9]})
  })

  it('fails the run (exit 2) when more rows fail than the budget allows, after writing every row', async () => {
    // Given 200 rows of which 3 are bad
    const rows = Array.from({length: 200}, (_, i) => (i % 70 === 5 ? '[1, 2]' : '[5.1, 3.5, 1.4, 0.2]'))
    const input = path.join(dir, 'budget.jsonl')
    const output = path.join(dir, 'budget-out.jsonl')
    await writeFile(input, `${rows.join('\n')}\n`)

    // When no failure is allowed (the default), Then the run fails and says how many rows failed and where first
    const error = await predictBatch({dir: IRIS, input, output}).catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'PREDICT_ROWS_FAILED',
      details: {allowedFailures: 0, failed: 3, rows: 200, succeeded: 197},
      exitCode: 2,
    })
    expect((error as Error).message).toMatch(/budget\.jsonl: 3 of 200 rows failed, the first at line 6: /)
    expect(await lines(output)).toHaveLength(200)

    // And a budget of 2 rows is too small, while 3 rows or 1.5% (3 of 200) is enough
    await expect(predictBatch({dir: IRIS, failureBudget: {rows: 2}, input, output})).rejects.toMatchObject({
      code: 'PREDICT_ROWS_FAILED',
      details: {allowedFailures: 2},
    })
    await expect(predictBatch({dir: IRIS, failureBudget: {rows: 3}, input, output})).resolves.toMatchObject({failed: 3})
    await expect(
      predictBatch({dir: IRIS, failureBudget: parseFailureBudget('1.5%'), input, output}),
    ).resolves.toMatchObject({failed: 3})
    await expect(
      predictBatch({dir: IRIS, failureBudget: parseFailureBudget('1%'), input, output}),
    ).rejects.toMatchObject({details: {allowedFailures: 2}})
  })

  it('reads --max-failures as rows or a percentage', () => {
    expect(parseFailureBudget('10')).toEqual({rows: 10})
    expect(parseFailureBudget('0.5%')).toEqual({fraction: 0.005})
    for (const bad of ['-1', '1.5', '150%', 'ten', '']) {
      expect(() => parseFailureBudget(bad)).toThrow(/--max-failures .*: expected a number of rows/)
    }
  })

  it('stops at the first bad row with failFast', async () => {
    const input = path.join(dir, 'ff.jsonl')
    await writeFile(input, '[5.1, 3.5, 1.4, 0.2]\n[1]\n[5.1, 3.5, 1.4, 0.2]\n')
    await expect(
      predictBatch({dir: IRIS, failFast: true, input, output: path.join(dir, 'ff-out.jsonl')}),
    ).rejects.toThrow(/ff.jsonl:2: .*stopped by --fail-fast after 2 rows/)
  })
})
