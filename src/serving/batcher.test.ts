import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import ort from 'onnxruntime-node'
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest'

import {DeadlineExceededError, QueueFullError} from './admission.js'
import {Batcher, type BatchRunner, type BatchStats, batchShape, canBatch, splitFeeds} from './batcher.js'
import type {HostTensor, TensorMap as BatchFeeds} from './tensors.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')

/** The batcher's clock in tests that need one: time moves only when the test (or a runner's cost) moves it. */
class ManualClock {
  ms = 0
  readonly now = (): number => this.ms
}

/**
 * A real onnxruntime session behind the batcher's seam. `hold()` makes runs wait until `release()`, so a test can fill
 * the workers and watch requests accumulate, deterministically. Given a clock, each run costs `msPerRow` per row on it.
 */
class SessionRunner implements BatchRunner {
  readonly batches: number[][] = []
  private gate: Promise<void> | undefined
  private open: (() => void) | undefined

  constructor(
    readonly session: ort.InferenceSession,
    private readonly cost?: {clock: ManualClock; msPerRow: number},
  ) {}

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve))
  }

  release(): void {
    this.open?.()
    this.gate = undefined
  }

  async run(feeds: BatchFeeds): Promise<BatchFeeds> {
    const dims = Object.values(feeds)[0]!.dims
    this.batches.push(dims)
    if (this.cost) this.cost.clock.ms += dims[0]! * this.cost.msPerRow
    if (this.gate) await this.gate
    return runSession(this.session, feeds)
  }
}

async function runSession(session: ort.InferenceSession, feeds: BatchFeeds): Promise<BatchFeeds> {
  const ortFeeds: Record<string, ort.Tensor> = {}
  for (const [name, t] of Object.entries(feeds))
    ortFeeds[name] = new ort.Tensor('float32', t.data as Float32Array, t.dims)
  const results = await session.run(ortFeeds)
  const out: BatchFeeds = {}
  for (const [name, t] of Object.entries(results)) out[name] = {data: t.data, dims: [...t.dims], dtype: 'float32'}
  return out
}

function digitsRows(): number[][] {
  const text = readFileSync(path.join(root, 'examples/digits-mlp/test.csv'), 'utf8').trim().split('\n').slice(1)
  return text.map((line) => line.split(',').slice(0, 64).map(Number))
}

function pixels(rows: number[][]): BatchFeeds {
  return {pixels: {data: Float32Array.from(rows.flat()), dims: [rows.length, 64], dtype: 'float32'}}
}

let digits: ort.InferenceSession
let double: ort.InferenceSession
let transpose: ort.InferenceSession
beforeAll(async () => {
  const options = {interOpNumThreads: 1, intraOpNumThreads: 1}
  digits = await ort.InferenceSession.create(path.join(root, 'examples/digits-mlp/model.onnx'), options)
  double = await ort.InferenceSession.create(path.join(here, 'fixtures/double.onnx'), options)
  transpose = await ort.InferenceSession.create(path.join(here, 'fixtures/transpose.onnx'), options)
})
afterAll(async () => {
  await Promise.all([digits.release(), double.release(), transpose.release()])
})
afterEach(() => {
  vi.useRealTimers()
})

/**
 * Fakes the timers the batcher waits on (deadlines, the staged batch's hold) and Date, so a test moves time itself;
 * setImmediate stays real: the batcher pumps once per event-loop turn, and onnxruntime answers asynchronously.
 */
function fakeTimers(): void {
  vi.useFakeTimers({toFake: ['setTimeout', 'clearTimeout', 'Date']})
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

function batcher(
  runner: BatchRunner,
  overrides: Partial<ConstructorParameters<typeof Batcher>[0]> = {},
  stats: BatchStats[] = [],
) {
  return new Batcher({
    batching: {maxBatchSize: 32, maxDelayMs: 5},
    concurrency: 2,
    maxQueue: 256,
    pipeline: 0,
    onBatch: (s) => stats.push(s),
    runner,
    timeoutMs: 10_000,
    ...overrides,
  })
}

describe('Batcher', () => {
  it('gives every request of mixed batch sizes exactly its unbatched outputs while merging concurrent requests', async () => {
    // Given 40 concurrent requests of 1 to 5 rows of real digits, while both workers are busy
    const rows = digitsRows()
    const requests: number[][][] = []
    for (let i = 0, offset = 0; i < 40; i++) {
      const n = (i % 5) + 1
      requests.push(rows.slice(offset, offset + n))
      offset = (offset + n) % (rows.length - 5)
    }
    const runner = new SessionRunner(digits)
    const stats: BatchStats[] = []
    const b = batcher(runner, {}, stats)
    runner.hold()
    const blockers = [b.submit(pixels(requests[0]!)), b.submit(pixels(requests[1]!))]
    await new Promise((resolve) => setImmediate(resolve))
    const rest = requests.slice(2).map((request) => b.submit(pixels(request)))
    expect(b.queued).toBe(38)
    // When the workers free up
    runner.release()
    const outputs = await Promise.all([...blockers, ...rest])

    // Then requests ran in batches of up to 32 rows, and each got the bytes it gets when run alone
    expect(stats.some((s) => s.requests > 1)).toBe(true)
    expect(Math.max(...stats.map((s) => s.rows))).toBeLessThanOrEqual(32)
    expect(stats.reduce((sum, s) => sum + s.requests, 0)).toBe(40)
    for (const [i, request] of requests.entries()) {
      const alone = await runSession(digits, pixels(request))
      expect(outputs[i]!.probabilities!.dims).toEqual([request.length, 10])
      expect(Array.from(outputs[i]!.probabilities!.data as Float32Array)).toEqual(
        Array.from(alone.probabilities!.data as Float32Array),
      )
    }
  })

  it('never holds a request while a worker is idle', async () => {
    fakeTimers()
    const runner = new SessionRunner(digits)
    const stats: BatchStats[] = []
    const b = batcher(runner, {batching: {maxBatchSize: 32, maxDelayMs: 10_000}}, stats)
    const result = b.submit(pixels(digitsRows().slice(0, 1)))
    // A fixed-wait batcher would wait max_delay_ms (10 s) for company; this one hands the request to a worker in the
    // next event-loop turn, with no timer to wait for (time does not move here).
    await nextTurn()
    expect(runner.batches).toEqual([[1, 64]])
    await result
    expect(stats).toEqual([expect.objectContaining({requests: 1, rows: 1})])
  })

  it('stages the next batch behind a busy worker, taking everything that waits', async () => {
    const runner = new SessionRunner(digits)
    const stats: BatchStats[] = []
    const b = batcher(runner, {batching: {maxBatchSize: 32, maxDelayMs: 0}, concurrency: 1, pipeline: 1}, stats)
    const rows = digitsRows()
    runner.hold()
    const first = b.submit(pixels(rows.slice(0, 1)))
    await new Promise((resolve) => setImmediate(resolve))
    const staged = Array.from({length: 5}, (_, i) => b.submit(pixels(rows.slice(i + 1, i + 2))))
    await new Promise((resolve) => setImmediate(resolve))
    const waiting = Array.from({length: 3}, (_, i) => b.submit(pixels(rows.slice(i + 6, i + 7))))
    await new Promise((resolve) => setImmediate(resolve))
    // One running, one staged with the five that arrived meanwhile, three waiting for the next slot.
    expect(runner.batches).toEqual([
      [1, 64],
      [5, 64],
    ])
    expect(b.queued).toBe(3)
    runner.release()
    await Promise.all([first, ...staged, ...waiting])
    expect(stats.map((s) => s.rows)).toEqual([1, 5, 3])
  })

  it('keeps the staged batch open for max_delay_ms while the worker is busy, then hands it over', async () => {
    fakeTimers()
    const runner = new SessionRunner(digits)
    const stats: BatchStats[] = []
    const b = batcher(
      runner,
      {batching: {maxBatchSize: 32, maxDelayMs: 40}, concurrency: 1, now: () => Date.now(), pipeline: 1},
      stats,
    )
    const rows = digitsRows()
    runner.hold()
    const first = b.submit(pixels(rows.slice(0, 1)))
    await nextTurn()
    // Given the worker busy, one request at 0 ms and two rows more at 10 ms
    const early = b.submit(pixels(rows.slice(1, 2)))
    await nextTurn()
    vi.advanceTimersByTime(10)
    const later = b.submit(pixels(rows.slice(2, 4)))
    await nextTurn()
    // Then the staged batch stays open until 40 ms after its oldest request, not a millisecond less
    vi.advanceTimersByTime(29)
    expect(runner.batches).toEqual([[1, 64]])
    // and is handed over, with both requests, at 40 ms
    vi.advanceTimersByTime(1)
    expect(runner.batches).toEqual([
      [1, 64],
      [3, 64],
    ])
    runner.release()
    await Promise.all([first, early, later])
    expect(stats.map((s) => s.rows)).toEqual([1, 3])
  })

  it('spreads requests that arrive together over the idle workers', async () => {
    const runner = new SessionRunner(digits)
    const stats: BatchStats[] = []
    const b = batcher(runner, {}, stats)
    const rows = digitsRows()
    await Promise.all(Array.from({length: 8}, (_, i) => b.submit(pixels(rows.slice(i, i + 1)))))
    expect(stats.map((s) => s.rows)).toEqual([4, 4])
  })

  it('batches requests whose non-batch dimensions differ separately', async () => {
    const runner = new SessionRunner(double)
    const b = batcher(runner, {concurrency: 1})
    runner.hold()
    const first = b.submit({x: {data: Float32Array.of(1, 2), dims: [1, 2], dtype: 'float32'}})
    await new Promise((resolve) => setImmediate(resolve))
    const mixed = [
      b.submit({x: {data: Float32Array.of(1, 2, 3), dims: [1, 3], dtype: 'float32'}}),
      b.submit({x: {data: Float32Array.of(4, 5), dims: [1, 2], dtype: 'float32'}}),
      b.submit({x: {data: Float32Array.of(6, 7, 8, 9, 10, 11), dims: [2, 3], dtype: 'float32'}}),
      b.submit({x: {data: Float32Array.of(12, 13, 14, 15), dims: [2, 2], dtype: 'float32'}}),
    ]
    runner.release()
    const results = await Promise.all([first, ...mixed])
    expect(runner.batches).toEqual([
      [1, 2],
      [3, 3],
      [3, 2],
    ])
    expect(results.map((r) => Array.from(r.y!.data as Float32Array))).toEqual([
      [2, 4],
      [2, 4, 6],
      [8, 10],
      [12, 14, 16, 18, 20, 22],
      [24, 26, 28, 30],
    ])
    expect(results.map((r) => r.y!.dims)).toEqual([
      [1, 2],
      [1, 3],
      [1, 2],
      [2, 3],
      [2, 2],
    ])
  })

  it('turns batching off and runs requests alone when an output does not split by rows', async () => {
    const runner = new SessionRunner(transpose)
    const reasons: string[] = []
    const b = batcher(runner, {concurrency: 1, onBatchingDisabled: (reason) => reasons.push(reason)})
    expect(canBatch({inputs: [{shape: [-1, -1]}], outputs: [{shape: [-1, -1]}]}).ok).toBe(true)
    runner.hold()
    const first = b.submit({x: {data: Float32Array.of(1, 2, 3), dims: [1, 3], dtype: 'float32'}})
    await new Promise((resolve) => setImmediate(resolve))
    const a = b.submit({x: {data: Float32Array.of(1, 2, 3), dims: [1, 3], dtype: 'float32'}})
    const c = b.submit({x: {data: Float32Array.of(4, 5, 6), dims: [1, 3], dtype: 'float32'}})
    runner.release()
    const [, ra, rc] = await Promise.all([first, a, c])
    expect(ra.y!.dims).toEqual([3, 1])
    expect(Array.from(rc.y!.data as Float32Array)).toEqual([4, 5, 6])
    expect(reasons).toHaveLength(1)
    expect(b.batching).toBe(false)
  })

  it('refuses a request at once with QueueFullError when the queue is full', async () => {
    const runner = new SessionRunner(digits)
    const b = batcher(runner, {concurrency: 1, maxQueue: 3})
    runner.hold()
    const row = pixels(digitsRows().slice(0, 1))
    const accepted = [b.submit(row)]
    await new Promise((resolve) => setImmediate(resolve))
    accepted.push(b.submit(row), b.submit(row), b.submit(row))
    // At once: rejected before the next event-loop turn, while every accepted request still waits.
    const error = await Promise.race([
      b.submit(row).then(
        () => 'accepted',
        (e: unknown) => e,
      ),
      nextTurn().then(() => 'still pending after an event-loop turn'),
    ])
    expect(error).toBeInstanceOf(QueueFullError)
    expect((error as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1)
    runner.release()
    await expect(Promise.all(accepted)).resolves.toHaveLength(4)
  })

  it('refuses when the expected wait for a worker is over serving.max_queue_delay_ms', async () => {
    // Given a model that costs 2 ms a row on the batcher's clock, and one worker
    const clock = new ManualClock()
    const runner = new SessionRunner(digits, {clock, msPerRow: 2})
    const b = batcher(runner, {batching: false, concurrency: 1, maxQueueDelayMs: 50, now: clock.now})
    const row = pixels(digitsRows().slice(0, 1))
    await b.submit(row) // learns the cost of a row
    expect(b.cost).toEqual({batchMs: 2, rowMs: 2})
    runner.hold()
    const accepted = [b.submit(row)]
    await nextTurn()
    // When requests keep arriving while it is busy
    let refused: unknown
    for (let i = 0; i < 10_000 && !refused; i++) {
      const next = b.submit(row)
      if (b.queued === 0) {
        refused = await next.catch((e: unknown) => e)
      } else {
        accepted.push(next)
        if (b.refusal()) refused = await b.submit(row).catch((e: unknown) => e)
      }
    }
    // Then the first refusal comes when the queue holds 50 ms of work: half the running request (1 ms) plus the
    // 3 waiting requests the pipeline hands to the worker next, and 22 more, at 2 ms each (1 + 25 x 2 = 51 ms).
    expect(refused).toBeInstanceOf(QueueFullError)
    expect((refused as QueueFullError).message).toMatch(/expected wait 51 ms, serving\.max_queue_delay_ms is 50/)
    expect(b.queued).toBe(25)
    expect(b.refusal()).toMatchObject({delay: {expectedMs: 51, limitMs: 50}, statusCode: 503})
    runner.release()
    await Promise.all(accepted)
  })

  it('rejects with DeadlineExceededError when a request waits or runs past its deadline', async () => {
    fakeTimers()
    const runner = new SessionRunner(digits)
    const b = batcher(runner, {concurrency: 1, timeoutMs: 50})
    runner.hold()
    const row = pixels(digitsRows().slice(0, 1))
    const settled: unknown[] = []
    const running = b.submit(row).catch((e: unknown) => e)
    await nextTurn()
    const queued = b.submit(row).catch((e: unknown) => e)
    void Promise.all([running, queued]).then((outcomes) => settled.push(...outcomes))
    vi.advanceTimersByTime(49)
    await nextTurn()
    expect(settled).toEqual([])
    vi.advanceTimersByTime(1)
    const [r, q] = await Promise.all([running, queued])
    expect(r).toBeInstanceOf(DeadlineExceededError)
    expect((r as DeadlineExceededError).stage).toBe('running')
    expect((q as DeadlineExceededError).stage).toBe('queued')
    expect(b.queued).toBe(0)
    vi.useRealTimers()
    runner.release()
    await b.drain()
  })
  it('takes an aborted request out of the queue (499) and answers the others; an answered one ignores its signal', async () => {
    const runner = new SessionRunner(digits)
    const b = batcher(runner, {concurrency: 1})
    runner.hold()
    const row = pixels(digitsRows().slice(0, 1))
    const running = b.submit(row)
    await nextTurn()
    const gone = new AbortController()
    const kept = new AbortController()
    const aborted = b.submit(row, {signal: gone.signal}).catch((e: unknown) => e)
    const answered = b.submit(row, {signal: kept.signal})
    await nextTurn()
    gone.abort()
    expect(await aborted).toMatchObject({message: expect.stringMatching(/client closed the request/), statusCode: 499})
    expect(b.queued).toBe(1)
    runner.release()
    await expect(Promise.all([running, answered])).resolves.toHaveLength(2)
    kept.abort()
    expect(b.queued).toBe(0)
    await b.drain()
  })
})

describe('batch helpers', () => {
  it('keys requests by input names, types and non-batch dimensions', () => {
    const a = batchShape({x: {data: new Float32Array(6), dims: [2, 3], dtype: 'float32'}})
    const b = batchShape({x: {data: new Float32Array(3), dims: [1, 3], dtype: 'float32'}})
    const c = batchShape({x: {data: new Float64Array(3), dims: [1, 3], dtype: 'float64'}})
    expect(a).toEqual({key: b.key, rows: 2})
    expect(c.key).not.toBe(a.key)
    expect(batchShape({x: {data: new Float32Array(1), dims: [], dtype: 'float32'}}).key).toBeNull()
  })

  it('keys several inputs whatever their order, and runs alone a request whose inputs disagree on the rows', () => {
    const ids: HostTensor = {data: new BigInt64Array(10), dims: [2, 5], dtype: 'int64'}
    const image: HostTensor = {data: new Float32Array(24), dims: [2, 3, 2, 2], dtype: 'float32'}
    expect(batchShape({ids, image})).toEqual({key: 'ids:int64:5|image:float32:3x2x2', rows: 2})
    expect(batchShape({image, ids}).key).toBe('ids:int64:5|image:float32:3x2x2')
    expect(batchShape({ids, image: {...image, dims: [3, 3, 2, 2]}})).toEqual({key: null, rows: 3})
    expect(batchShape({v: {data: new Float32Array(4), dims: [4], dtype: 'float32'}})).toEqual({
      key: 'v:float32:',
      rows: 4,
    })
    expect(batchShape({v: {data: new Float32Array(0), dims: [0, 4], dtype: 'float32'}})).toEqual({key: null, rows: 0})
  })

  it('splits outputs back by rows and refuses outputs without the batch on axis 0', () => {
    const parts = splitFeeds({y: {data: Float32Array.of(1, 2, 3, 4, 5, 6), dims: [3, 2], dtype: 'float32'}}, [1, 2])
    expect(parts.map((p) => [p.y!.dims, Array.from(p.y!.data as Float32Array)])).toEqual([
      [
        [1, 2],
        [1, 2],
      ],
      [
        [2, 2],
        [3, 4, 5, 6],
      ],
    ])
    expect(() => splitFeeds({y: {data: Float32Array.of(1, 2), dims: [2], dtype: 'float32'}}, [1, 2])).toThrow(
      /cannot be split/,
    )
  })

  it('batches only models whose inputs and outputs all have a dynamic first dimension', () => {
    expect(canBatch({inputs: [{shape: ['batch', 64]}], outputs: [{shape: ['batch', 10]}]})).toEqual({ok: true})
    expect(canBatch({inputs: [{shape: [1, 64]}], outputs: [{shape: [1, 10]}]}).ok).toBe(false)
    expect(canBatch({inputs: [{shape: ['batch', 4]}], outputs: [{shape: [3]}]}).ok).toBe(false)
    expect(canBatch({inputs: [{shape: ['batch', 4]}], outputs: [{shape: ['detections', 4]}]}).ok).toBe(false)
  })
})
