import {describe, expect, it} from 'vitest'

import {parseConfigText} from '../../config/load.js'
import type {OutputSpec} from '../../config/schema.js'
import {QueueFullError, queueFull} from '../admission.js'
import type {InferenceBackend} from '../backend.js'
import type {TensorMap} from '../tensors.js'
import {FeedbackStore} from './feedback-store.js'
import {type ServedVariant, VariantRouter} from './router.js'
import {ShadowLane, shadowCopyAdmitted, shareableFeeds} from './shadow.js'
import {ShadowBudget} from './shadow-budget.js'
import {VariantStats} from './variant-stats.js'

const OUTPUT: OutputSpec = {dtype: 'float32', labels: ['a', 'b'], name: 'y', shape: ['batch', 2]}

/** Scores for each row: class 0 where `classes[row]` is 0, else class 1. */
function scores(classes: number[]): TensorMap {
  return {
    y: {
      data: Float32Array.from(classes.flatMap((c) => (c === 0 ? [0.9, 0.1] : [0.2, 0.8]))),
      dims: [classes.length, 2],
      dtype: 'float32',
    },
  }
}

const FEEDS: TensorMap = {x: {data: new Float32Array([1, 2]), dims: [1, 2], dtype: 'float32'}}

/** A backend whose inferences finish when the test says so (the inference itself is not what is tested here). */
class HeldBackend implements InferenceBackend {
  readonly info = {executionProvider: 'cpu' as const, intraOpThreads: 1, workers: 1}
  readonly pending: Array<{resolve: (outputs: TensorMap) => void; reject: (error: Error) => void}> = []

  run(): Promise<TensorMap> {
    return new Promise((resolve, reject) => this.pending.push({reject, resolve}))
  }

  async close(): Promise<void> {}
}

function stats(name: string, shadow: boolean): VariantStats {
  return new VariantStats({model: '.', modelVersion: '1.0.0', name, shadow, weight: shadow ? 0 : 100})
}

const settle = () => new Promise((resolve) => setImmediate(resolve))

describe('shadowCopyAdmitted', () => {
  it('admits a copy only while the answering variant is idle', () => {
    expect(shadowCopyAdmitted({inFlight: 0, workers: 1}, 0, 2)).toBe(true)
    expect(shadowCopyAdmitted({inFlight: 1, workers: 1}, 0, 2)).toBe(false)
    expect(shadowCopyAdmitted({inFlight: 7, workers: 1}, 0, 64)).toBe(false)
  })

  it('keeps at most one shadow copy in flight per core the answering workers leave free', () => {
    // 8 cores, 2 answering workers: 6 copies at most
    expect(shadowCopyAdmitted({inFlight: 0, workers: 2}, 5, 8)).toBe(true)
    expect(shadowCopyAdmitted({inFlight: 0, workers: 2}, 6, 8)).toBe(false)
  })

  it('keeps one copy in flight when the answering workers fill every core (2 cores, 2 workers)', () => {
    expect(shadowCopyAdmitted({inFlight: 0, workers: 2}, 0, 2)).toBe(true)
    expect(shadowCopyAdmitted({inFlight: 0, workers: 2}, 1, 2)).toBe(false)
    expect(shadowCopyAdmitted({inFlight: 0, workers: 4}, 1, 2)).toBe(false)
  })
})

describe('ShadowLane', () => {
  it('takes copies up to its limit, sheds the rest, and compares each answer', async () => {
    const backend = new HeldBackend()
    const laneStats = stats('shadow', true)
    const lane = new ShadowLane({
      backend,
      cores: 4,
      name: 'shadow',
      output: OUTPUT,
      stats: laneStats,
      timeoutMs: 5000,
    })
    // Given 4 cores, of which the answering variant's 2 workers leave 2 to the shadow
    const idle = {inFlight: 0, workers: 2}
    expect(lane.accepts(idle)).toBe(true)
    lane.send(FEEDS, {kind: 'class', rows: ['a']}, undefined)
    lane.send(FEEDS, {kind: 'class', rows: ['b']}, undefined)
    expect(lane.accepts(idle)).toBe(false)
    lane.shed()

    backend.pending[0]!.resolve(scores([0]))
    backend.pending[1]!.resolve(scores([0]))
    await settle()
    expect(lane.accepts(idle)).toBe(true)
    const copies = laneStats.snapshot().copies!
    expect(copies).toMatchObject({agreeing_rows: 1, compared_rows: 2, completed: 2, failed: 0, shed: 1})
  })

  it('takes a copy only while its budget has CPU time left, and spends what each copy took', async () => {
    const backend = new HeldBackend()
    const laneStats = stats('shadow', true)
    let time = 0
    const sources = {eventLoopDelayMs: () => 0, idleCpuMs: () => 0, now: () => time, processCpuMs: () => 0}
    const budget = new ShadowBudget({cores: 1, share: 0.5, sources, trickleMs: 60_000, windowMs: 100})
    const lane = new ShadowLane({
      backend,
      budget,
      cores: 4,
      name: 'shadow',
      now: () => time,
      output: OUTPUT,
      stats: laneStats,
      timeoutMs: 5000,
    })
    const idle = {inFlight: 0, workers: 1}
    // It starts with 50 ms (half of 1 core x 100 ms); a copy that takes 60 ms leaves it 10 short.
    expect(lane.accepts(idle)).toBe(true)
    lane.send(FEEDS, undefined, undefined)
    time += 60
    backend.pending[0]!.resolve(scores([0]))
    await settle()
    expect(budget.tokens).toBe(-10)
    expect(lane.accepts(idle)).toBe(false)
    // A send the budget refuses is shed, not queued (the machine stayed busy: no idle time came in).
    time += 100
    lane.send(FEEDS, undefined, undefined)
    expect(backend.pending).toHaveLength(1)
    expect(laneStats.snapshot().copies).toMatchObject({completed: 1, shed: 1})
  })

  it('takes nothing while the variant that answers has another request in flight', () => {
    const lane = new ShadowLane({
      backend: new HeldBackend(),
      cores: 16,
      name: 'shadow',
      output: OUTPUT,
      stats: stats('shadow', true),
      timeoutMs: 5000,
    })
    expect(lane.accepts({inFlight: 1, workers: 2})).toBe(false)
    expect(lane.accepts({inFlight: 0, workers: 2})).toBe(true)
  })

  it("counts the shadow's own full queue as shed and any other failure as failed", async () => {
    const backend = new HeldBackend()
    const laneStats = stats('shadow', true)
    const lane = new ShadowLane({
      backend,
      cores: 4,
      name: 'shadow',
      output: OUTPUT,
      stats: laneStats,
      timeoutMs: 5000,
    })
    lane.send(FEEDS, undefined, undefined)
    lane.send(FEEDS, undefined, undefined)
    backend.pending[0]!.reject(new QueueFullError(queueFull(4, 4, 10)))
    backend.pending[1]!.reject(new Error('inference failed'))
    await settle()
    expect(laneStats.snapshot().copies).toMatchObject({completed: 0, failed: 1, shed: 1})
  })

  it('copies large tensors (a worker would detach them) and shares small ones', () => {
    expect(shareableFeeds(FEEDS)).toBe(FEEDS)
    const large: TensorMap = {x: {data: new Float32Array(20_000), dims: [1, 20_000], dtype: 'float32'}}
    const copy = shareableFeeds(large)
    expect(copy.x!.data).not.toBe(large.x!.data)
    expect(copy.x!.data).toEqual(large.x!.data)
  })
})

describe('VariantRouter and its shadows', () => {
  const experiment = parseConfigText(
    `name: m
version: 1.0.0
model: {file: model.onnx}
experiment:
  name: e
  variants:
    - {name: control, model: ., weight: 100}
    - {name: shadow, model: ../s, shadow: true}
  outcome: {type: label}
`,
    'model.yaml',
  ).experiment!

  function setup() {
    const answering = new HeldBackend()
    const shadowBackend = new HeldBackend()
    const control: ServedVariant = {
      backend: answering,
      modelVersion: '1.0.0',
      name: 'control',
      shadow: false,
      stats: stats('control', false),
      workers: 1,
    }
    const shadow: ServedVariant = {
      backend: shadowBackend,
      modelVersion: '1.0.1',
      name: 'shadow',
      shadow: true,
      stats: stats('shadow', true),
      workers: 1,
    }
    const lane = new ShadowLane({
      backend: shadowBackend,
      cores: 2,
      name: 'shadow',
      output: OUTPUT,
      stats: shadow.stats,
      timeoutMs: 5000,
    })
    const store = new FeedbackStore({maxPredictions: 100, ttlSeconds: 60})
    const router = new VariantRouter({
      experiment,
      output: OUTPUT,
      shadows: [lane],
      state: {phase: 'ready'},
      store,
      variants: [control, shadow],
    })
    return {answering, router, shadow, shadowBackend, store}
  }

  it('copies the request to the shadow after the answer, and keeps its prediction for the outcome', async () => {
    const {answering, router, shadow, shadowBackend, store} = setup()
    const routed = router.assign({body: {}, headers: {}, id: 'r1'})
    const answer = routed.run(FEEDS)
    await settle()
    expect(shadowBackend.pending).toHaveLength(0)
    answering.pending[0]!.resolve(scores([0]))
    expect(await answer).toEqual(scores([0]))
    expect(shadowBackend.pending).toHaveLength(1)
    shadowBackend.pending[0]!.resolve(scores([1]))
    await settle()
    expect(shadow.stats.snapshot().copies).toMatchObject({agreeing_rows: 0, compared_rows: 1, completed: 1})
    expect(store.get('r1')!.shadows.get('shadow')).toEqual({kind: 'class', rows: ['b']})
  })

  it('sheds the copy of a request answered while another of the same variant is in flight', async () => {
    const {answering, router, shadow, shadowBackend} = setup()
    // Given two requests in flight at the control
    const first = router.assign({body: {}, headers: {}, id: 'r2'}).run(FEEDS)
    const second = router.assign({body: {}, headers: {}, id: 'r2b'}).run(FEEDS)
    // When the first is answered while the second still runs, it is shed
    answering.pending[0]!.resolve(scores([0]))
    await first
    expect(shadowBackend.pending).toHaveLength(0)
    expect(shadow.stats.snapshot().copies).toMatchObject({completed: 0, shed: 1})
    // and the second, answered with the control idle again, is copied
    answering.pending[1]!.resolve(scores([0]))
    await second
    expect(shadowBackend.pending).toHaveLength(1)
  })

  it('counts a failed answer out of the variant in flight', async () => {
    const {answering, router, shadowBackend} = setup()
    const failed = router.assign({body: {}, headers: {}, id: 'r4'}).run(FEEDS)
    answering.pending[0]!.reject(new Error('inference failed'))
    await expect(failed).rejects.toThrow('inference failed')
    const next = router.assign({body: {}, headers: {}, id: 'r5'}).run(FEEDS)
    answering.pending[1]!.resolve(scores([0]))
    await next
    expect(shadowBackend.pending).toHaveLength(1)
  })

  it('holds one copy at a time on 2 cores: the next is shed until it finishes', async () => {
    const {answering, router, shadow, shadowBackend} = setup()
    for (const id of ['r6', 'r7']) {
      const answer = router.assign({body: {}, headers: {}, id}).run(FEEDS)
      answering.pending.at(-1)!.resolve(scores([0]))
      await answer
    }
    expect(shadowBackend.pending).toHaveLength(1)
    expect(shadow.stats.snapshot().copies).toMatchObject({shed: 1})
  })

  it('makes no copy of a forced request', async () => {
    const {answering, router, shadow, shadowBackend} = setup()
    const answer = router.assign({body: {}, headers: {'x-mlship-variant': 'control'}, id: 'r3'}).run(FEEDS)
    answering.pending[0]!.resolve(scores([0]))
    await answer
    expect(shadowBackend.pending).toHaveLength(0)
    expect(shadow.stats.snapshot().copies).toMatchObject({completed: 0, shed: 0})
  })
})
