import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {computeBaseline} from '../baseline/baseline.js'
import type {Signature} from '../config/schema.js'
import {loadModelProject} from '../model/load-model.js'
import {compareModels, gateData} from './accuracy.js'
import {AttributeType, DataType, encodeOnnxModel, floatTensor, onnx} from './onnx-model.js'
import {measureSpeed} from './speed.js'
import {quantisationSensitiveModel, uniformRows, writeModelDir} from './test-support/models.js'

let work: string
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mlship-accuracy-'))
})
afterEach(async () => {
  await rm(work, {force: true, recursive: true})
})

describe('gateData', () => {
  it("takes model.yaml's examples and draws rows from the baseline, inside its ranges, the same every time", async () => {
    const {model, features, deadFeature} = quantisationSensitiveModel()
    const rows = uniformRows(1, 200, features, {low: -1, zero: [deadFeature]})
    await writeModelDir(work, {classes: 3, features, model, name: 'm', rows})
    await computeBaseline({data: path.join(work, 'train.csv'), dir: work})
    const project = await loadModelProject(work)

    const data = await gateData({generatedRows: 50, project})
    expect(data.source).toBe('1 model.yaml example row + 50 rows drawn from monitoring.baseline')
    expect(data.rows).toHaveLength(51)
    expect(data.rows[0]!.values.x).toEqual(rows[0])
    const baseline = project.config.monitoring.baseline!.features
    for (const row of data.rows.slice(1)) {
      for (const [i, value] of row.values.x!.entries()) {
        expect(value).toBeGreaterThanOrEqual(baseline[i]!.bin_edges[0]!)
        expect(value).toBeLessThanOrEqual(baseline[i]!.bin_edges.at(-1)!)
      }
    }
    expect((await gateData({generatedRows: 50, project})).rows).toEqual(data.rows)
  })

  it('reads --data (JSONL here) up to maxRows, and says when it stopped early', async () => {
    const {model, features} = quantisationSensitiveModel()
    await writeModelDir(work, {classes: 3, features, model, name: 'm'})
    const lines = uniformRows(2, 10, features).map((row) => JSON.stringify({features: [row]}))
    await writeFile(path.join(work, 'rows.jsonl'), lines.join('\n'))
    const project = await loadModelProject(work)
    const all = await gateData({data: path.join(work, 'rows.jsonl'), project})
    expect(all).toMatchObject({source: path.join(work, 'rows.jsonl'), truncated: false})
    expect(all.rows).toHaveLength(10)
    const some = await gateData({data: path.join(work, 'rows.jsonl'), maxRows: 4, project})
    expect(some.truncated).toBe(true)
    expect(some.rows).toHaveLength(4)
    await expect(gateData({data: path.join(work, 'missing.csv'), project})).rejects.toMatchObject({
      code: 'DATA_NOT_FOUND',
    })
  })
})

/** x [batch, 2] -> MatMul(W) -> logits [batch, 3] and ArgMax -> label int64 [batch]. */
async function classifier(weights: number[]): Promise<ort.InferenceSession> {
  const model = onnx.ModelProto.create({
    graph: {
      initializer: [floatTensor('W', [2, 3], Float32Array.from(weights))],
      input: [
        {name: 'x', type: {tensorType: {elemType: DataType.float, shape: {dim: [{dimParam: 'b'}, {dimValue: 2}]}}}},
      ],
      name: 'c',
      node: [
        {input: ['x', 'W'], name: 'mm', opType: 'MatMul', output: ['logits']},
        {
          attribute: [
            {i: 1, name: 'axis', type: AttributeType.INT},
            {i: 0, name: 'keepdims', type: AttributeType.INT},
          ],
          input: ['logits'],
          name: 'am',
          opType: 'ArgMax',
          output: ['label'],
        },
      ],
      output: [{name: 'logits'}, {name: 'label'}],
    },
    irVersion: 8,
    opsetImport: [{domain: '', version: 13}],
  })
  return ort.InferenceSession.create(encodeOnnxModel(model, 'c'))
}

describe('compareModels', () => {
  const signature: Signature = {
    inputs: [{dtype: 'float32', name: 'x', shape: ['b', 2]}],
    outputs: [
      {dtype: 'float32', labels: ['a', 'b', 'c'], name: 'logits', shape: ['b', 3]},
      {dtype: 'int64', name: 'label', shape: ['b']},
    ],
  }
  const data = {
    inputs: [{name: 'x', rowSize: 2}],
    rows: [
      [1, 0],
      [0, 1],
      [1, 1],
      [-1, 0.5],
    ].map((x, i) => ({line: i + 1, values: {x}})),
    source: 'test',
    truncated: false,
  }

  it('reports the differences of every output, argmax agreement for labelled ones, exact agreement for integers', async () => {
    const reference = await classifier([1, 0, 0, 0, 1, 0])
    // A third logit of 1.5 x0 (0 before): it now wins the rows with x0 = 1, and differs by 1.5 wherever x0 != 0.
    const candidate = await classifier([1, 0, 1.5, 0, 1, 0])
    const report = await compareModels({candidate, data, reference, signature})
    expect(report).toEqual({
      agreement: 0.5,
      outputs: [
        {argmax_agreement: 0.5, max_abs_diff: 1.5, mean_abs_diff: 4.5 / 12, name: 'logits'},
        {exact_agreement: 0.5, max_abs_diff: 2, mean_abs_diff: 1, name: 'label'},
      ],
      rows: 4,
    })
    const same = await compareModels({candidate: reference, data, reference, signature})
    expect(same.agreement).toBe(1)
    expect(same.outputs.map((o) => o.max_abs_diff)).toEqual([0, 0])
  })

  it('has nothing to gate on when no output is labelled or an integer', async () => {
    const reference = await classifier([1, 0, 0, 0, 1, 0])
    const report = await compareModels({
      candidate: reference,
      data,
      reference,
      signature: {inputs: signature.inputs, outputs: [{dtype: 'float32', name: 'logits', shape: ['b', 3]}]},
    })
    expect(report.agreement).toBeUndefined()
    expect(report.outputs).toEqual([{max_abs_diff: 0, mean_abs_diff: 0, name: 'logits'}])
  })
})

describe('measureSpeed', () => {
  it('takes medians of timed calls from its clock, every model in every round, at least minCalls each', async () => {
    const session = await classifier([1, 0, 0, 0, 1, 0])
    const one = {x: new ort.Tensor('float32', Float32Array.from([1, 2]), [1, 2])}
    const batch = {x: new ort.Tensor('float32', new Float32Array(64), [32, 2])}
    let ticks = 0
    // Every reading of the clock is 1 ms after the one before: a call measures exactly 1 ms.
    const now = () => ticks++
    const samples = await measureSpeed(
      [
        {batch, one, session},
        {batch, one, session},
      ],
      {minCalls: 4, now, roundMs: 6, rounds: 3},
    )
    for (const sample of samples) {
      expect(sample.latencyMs).toBe(1)
      expect(sample.rowsPerSecond).toBe(32_000)
      expect(sample.calls.batch1).toBeGreaterThanOrEqual(12)
      expect(sample.calls.batch32).toBe(sample.calls.batch1)
    }
  })
})
