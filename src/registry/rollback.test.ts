import {describe, expect, it} from 'vitest'

import {LABELS} from '../image/labels.js'
import {runContainer} from '../container/container.js'
import {memoryEngine} from '../docker/test-support/memory-engine.js'
import {replaceServedContainers} from './rollback.js'

const HOST = '127.0.0.1:5000'
const TARGET = `${HOST}/team/iris:1.0.0`

function model(name: string, version: string) {
  return {labels: {[LABELS.modelName]: name, [LABELS.modelVersion]: version}}
}

describe('replaceServedContainers on the memory engine', () => {
  it("pulls the version the engine lacks and replaces the model's containers that run another image", async () => {
    const engine = memoryEngine()
    engine.images.add({...model('iris', '1.1.0'), references: [`${HOST}/team/iris:1.1.0`]})
    engine.images.add({...model('digits', '3.0.0'), references: ['digits:3.0.0']})
    const run = (image: string) => runContainer({containerPort: 8080, engine, hostPort: 0, image})
    const stale = await run(`${HOST}/team/iris:1.1.0`)
    const otherModel = await run('digits:3.0.0')
    engine.transfer.script = () => ({events: [{status: 'Downloaded newer image'}], image: model('iris', '1.0.0')})
    const progress: string[] = []

    const swaps = await replaceServedContainers({
      credentials: {password: 'pw', username: 'ci'},
      engine,
      host: HOST,
      modelName: 'iris',
      onProgress: (message) => progress.push(message),
      reference: TARGET,
    })

    expect(engine.transfer.transfers.map((t) => [t.kind, t.reference, t.auth?.username])).toEqual([
      ['pull', TARGET, 'ci'],
    ])
    expect(swaps).toHaveLength(1)
    expect(swaps[0]).toMatchObject({image: TARGET, name: stale.name, oldId: stale.id, oldUrl: stale.url})
    expect(engine.containers.running().sort()).toEqual([otherModel.id, swaps[0]!.newId].sort())
    expect(progress).toEqual([`Pulling ${TARGET}`, `Replacing container ${stale.name} with ${TARGET}`])

    // Run again: every container of the model runs the version already, nothing is pulled or replaced.
    expect(await replaceServedContainers({engine, host: HOST, modelName: 'iris', reference: TARGET})).toEqual([])
    expect(engine.transfer.transfers).toHaveLength(1)
  })

  it('pulls nothing when no container of the model is served', async () => {
    const engine = memoryEngine()
    expect(await replaceServedContainers({engine, host: HOST, modelName: 'iris', reference: TARGET})).toEqual([])
    expect(engine.transfer.transfers).toEqual([])
  })
})
