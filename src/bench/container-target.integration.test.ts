import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {LABELS} from '../image/labels.js'
import {baseImageForTests, EngineCleanup, engineForTests, type EngineForTests} from '../docker/test-support/engine.js'
import {runBench} from './bench.js'
import {containerTarget} from './container-target.js'
import {DEFAULT_SLO} from './step-result.js'

describe('mlship bench on the container target', async () => {
  const env: EngineForTests = await engineForTests()
  let cleanup: EngineCleanup
  let baseImage: string
  const tag = `mlship-test/bench-iris:${Date.now().toString(36)}`

  beforeAll(async () => {
    if (!env.engine) return
    cleanup = new EngineCleanup(env.engine)
    cleanup.image(tag)
    baseImage = await baseImageForTests(env.engine)
  })
  afterAll(async () => {
    await cleanup?.run()
  })

  it.skipIf(!env.engine)(
    'builds the image, runs it until ready, loads it, reports provider, size and time to ready, and removes it',
    async () => {
      const notes: string[] = []
      const result = await runBench(
        {
          arrival: 'constant',
          connections: 16,
          devices: ['cpu', 'gpu'],
          dir: 'examples/iris',
          durationMs: 1000,
          lateThresholdMs: 10,
          method: 'POST',
          rate: 50,
          slo: DEFAULT_SLO,
          starter: containerTarget({baseImage, dir: 'examples/iris', onNote: (m) => notes.push(m), tag}),
          sweep: {},
          timeoutMs: 5000,
          warmupMs: 500,
        },
        {onNote: (m) => notes.push(m)},
      )
      const [run] = result.runs
      expect(result.target.kind).toBe('container')
      expect(run!.device).toBe('cpu')
      expect(run!.executionProvider).toBe('cpu')
      expect(run!.imageSizeBytes).toBeGreaterThan(10e6)
      expect(run!.timeToReadyMs).toBeGreaterThan(0)
      expect(run!.steps[0]!.ok).toBe(50)
      // No GPU on the CI machines: said plainly, CPU alone (where one exists the GPU run is tried instead).
      if (!result.gpu.usable) {
        expect(result.gpu.reason).toBeTruthy()
        expect(result.runs).toHaveLength(1)
      }
      // The container is gone. (mlship labels every container it runs as its own.)
      const image = await env.engine!.images.inspect(tag)
      expect(image).toBeDefined()
      const left = await env.engine!.containers.listByLabels([LABELS.managed], {all: true})
      expect(left.filter((container) => container.imageId === image!.id)).toEqual([])
    },
  )
})
