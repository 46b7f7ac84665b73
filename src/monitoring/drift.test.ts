import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {FeatureAccumulator} from './baseline-stats.js'
import {binIndex, populationStabilityIndex, quantileEdges} from './bins.js'
import {type DriftEvent, DriftMonitor} from './drift.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

function csvRows(file: string): number[][] {
  const lines = readFileSync(path.join(root, 'examples/digits-mlp', file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
  return lines.map((line) => line.split(',').slice(0, 64).map(Number))
}

function baselineOf(rows: number[][]) {
  const accumulators = Array.from({length: 64}, (_, i) => new FeatureAccumulator('pixels', i, `p${i}`))
  for (const row of rows) row.forEach((v, i) => accumulators[i]!.add(v))
  return accumulators.map((a) => a.summarise())
}

function feed(monitor: DriftMonitor, rows: number[][]) {
  for (const row of rows) monitor.observe({pixels: {data: Float32Array.from(row), dims: [1, 64], dtype: 'float32'}})
}

describe('bins', () => {
  it('assigns values to [e0, e1) ... [e(k-1), ek], with out-of-range values in the end bins', () => {
    const edges = [0, 3, 8, 12, 16]
    expect([-5, 0, 2.9, 3, 7.9, 8, 12, 16, 99, Number.NaN].map((v) => binIndex(edges, v))).toEqual([
      0, 0, 0, 1, 1, 2, 3, 3, 3, 0,
    ])
  })

  it('gives a value that holds more than a bin of the data a bin of its own, and a constant bins around it', () => {
    const sparse = [...new Array<number>(90).fill(0), 1, 2, 3, 4, 5, 6, 7, 8, 9, 15]
    expect(quantileEdges(sparse, 10)).toEqual([0, 1, 15])
    const constant = quantileEdges([5, 5, 5], 10)
    expect(constant.map((e) => binIndex(constant, e))).toEqual([0, 1, 2, 2])
    expect(binIndex(constant, 5)).toBe(1)
    expect([4, 6].map((v) => binIndex(constant, v))).toEqual([0, 2])
  })

  it('scores identical distributions 0 and disjoint ones high', () => {
    expect(populationStabilityIndex([0.5, 0.5], [0.5, 0.5])).toBe(0)
    expect(populationStabilityIndex([0.5, 0.5, 0], [0, 0, 1])).toBeGreaterThan(5)
  })
})

describe('FeatureAccumulator', () => {
  it('summarises mean, std, min, max and bin fractions that add up to 1', () => {
    const a = new FeatureAccumulator('x', 0, 'height')
    for (let i = 1; i <= 1000; i++) a.add(i)
    a.add(Number.NaN)
    const s = a.summarise(4)
    expect(s).toMatchObject({index: 0, input: 'x', max: 1000, mean: 500.5, min: 1, name: 'height'})
    expect(s.std).toBeCloseTo(288.675, 2)
    expect(s.bin_edges).toEqual([1, 251, 501, 750, 1000])
    expect(s.bin_fractions.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 5)
  })
})

describe('DriftMonitor on the digits data', () => {
  const baseline = baselineOf(csvRows('train.csv'))

  it('stays low for held-out data from the same distribution', () => {
    const events: DriftEvent[] = []
    const monitor = new DriftMonitor({inputs: baseline, onEvent: (e) => events.push(e), threshold: 0.2, window: 300})
    feed(monitor, csvRows('test.csv'))
    const scores = monitor.scores()
    expect(scores).toHaveLength(64)
    expect(scores.every((s) => s.rows === 300 && s.psi !== null)).toBe(true)
    const worst = Math.max(...scores.map((s) => s.psi!))
    expect(worst).toBeLessThan(0.2)
    expect(events).toEqual([])
  })

  it('rises above the threshold, and warns once per feature, when shifted data is sent', () => {
    const events: DriftEvent[] = []
    const monitor = new DriftMonitor({inputs: baseline, onEvent: (e) => events.push(e), threshold: 0.2, window: 300})
    // Darker strokes: every pixel 4 intensities higher (clipped at 16), as a different scanner might give.
    const shifted = csvRows('test.csv').map((row) => row.map((v) => Math.min(16, v + 4)))
    feed(monitor, shifted)
    const scores = monitor.scores()
    const drifting = scores.filter((s) => s.psi! > 0.2)
    expect(drifting.length).toBeGreaterThan(32)
    expect(
      events
        .filter((e) => e.state === 'drift')
        .map((e) => e.name)
        .sort(),
    ).toEqual(drifting.map((s) => s.name).sort())

    // And recovers once in-distribution traffic fills the window again.
    feed(monitor, csvRows('test.csv'))
    expect(Math.max(...monitor.scores().map((s) => s.psi!))).toBeLessThan(0.2)
    expect(events.filter((e) => e.state === 'recovered').length).toBe(drifting.length)
  })

  it('gives no score until the window holds enough rows', () => {
    const monitor = new DriftMonitor({inputs: baseline, threshold: 0.2, window: 1000})
    feed(monitor, csvRows('test.csv').slice(0, 10))
    expect(monitor.scores()[0]).toMatchObject({psi: null, rows: 10})
  })
})
