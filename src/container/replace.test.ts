import {describe, expect, it} from 'vitest'

import {LABELS} from '../image/labels.js'
import {memoryEngine, type MemoryEngine} from '../docker/test-support/memory-engine.js'
import {runContainer} from './container.js'
import {replaceContainer} from './replace.js'

/** Two versions of the iris image, and version 1.0.0 served on 127.0.0.1:8080. */
async function servedEngine(): Promise<{engine: MemoryEngine; old: string}> {
  const engine = memoryEngine()
  for (const version of ['1.0.0', '0.9.0']) {
    engine.images.add({
      labels: {[LABELS.modelName]: 'iris-classifier', [LABELS.modelVersion]: version},
      references: [`iris-classifier:${version}`],
    })
  }
  const old = await runContainer({containerPort: 8080, engine, hostPort: 8080, image: 'iris-classifier:1.0.0'})
  engine.containers.journal.length = 0
  return {engine, old: old.id}
}

describe('replaceContainer on the memory engine', () => {
  it('start-first: the replacement is ready on another port before the old one stops', async () => {
    const {engine, old} = await servedEngine()

    const result = await replaceContainer({container: old, engine, image: 'iris-classifier:0.9.0'})

    const replacement = result.current.id
    expect(engine.containers.journal).toEqual([
      `create ${replacement}`,
      `start ${replacement}`,
      `stop ${old}`,
      `remove ${old}`,
    ])
    expect(result).toMatchObject({old: {id: old, url: 'http://127.0.0.1:8080'}, strategy: 'start-first'})
    expect(result.current.url).not.toBe('http://127.0.0.1:8080')
    expect(engine.containers.specOf(replacement)).toMatchObject({
      image: 'iris-classifier:0.9.0',
      labels: {[LABELS.managed]: 'true', [LABELS.modelVersion]: '0.9.0'},
      publish: {containerPort: 8080, hostIp: '127.0.0.1', hostPort: 0},
    })
    expect(engine.containers.running()).toEqual([replacement])
  })

  it('stop-first: the old one stops first and the replacement takes its port', async () => {
    const {engine, old} = await servedEngine()

    const result = await replaceContainer({
      container: old,
      engine,
      image: 'iris-classifier:0.9.0',
      strategy: 'stop-first',
    })

    expect(engine.containers.journal.slice(0, 2)).toEqual([`stop ${old}`, `remove ${old}`])
    expect(result.current.url).toBe('http://127.0.0.1:8080')
  })

  it('a replacement that never becomes ready is removed, and with start-first the old one still serves', async () => {
    const {engine, old} = await servedEngine()
    engine.containers.healthOnStart = 'unhealthy'

    await expect(replaceContainer({container: old, engine, image: 'iris-classifier:0.9.0'})).rejects.toMatchObject({
      code: 'CONTAINER_UNHEALTHY',
      exitCode: 5,
    })
    expect(engine.containers.ids()).toEqual([old])
    expect(engine.containers.running()).toEqual([old])
  })

  it('keeps GPUs for a container that had them', async () => {
    const engine = memoryEngine()
    engine.images.add({references: ['iris:gpu', 'iris:gpu-old']})
    const old = await runContainer({containerPort: 8080, engine, gpus: 1, hostPort: 0, image: 'iris:gpu-old'})
    const result = await replaceContainer({container: old.id, engine, image: 'iris:gpu'})
    expect(engine.containers.specOf(result.current.id).gpus).toBe('all')
  })

  it('refuses a container that is not there, or that publishes no port (exit 2)', async () => {
    const {engine} = await servedEngine()
    await expect(replaceContainer({container: 'nope', engine, image: 'iris-classifier:0.9.0'})).rejects.toMatchObject({
      code: 'CONTAINER_NOT_FOUND',
      exitCode: 2,
    })
    const unpublished = await engine.containers.create({image: 'iris-classifier:1.0.0', name: 'batch-job'})
    await engine.containers.start(unpublished)
    await expect(
      replaceContainer({container: 'batch-job', engine, image: 'iris-classifier:0.9.0'}),
    ).rejects.toMatchObject({code: 'CONTAINER_NO_PORT', exitCode: 2})
  })
})
