import {afterAll, beforeAll} from 'vitest'

import {describeEngineContract} from './test-support/docker-contract.js'
import {baseImageForTests, EngineCleanup, engineForTests, uniqueName} from './test-support/engine.js'

const {engine, skipReason} = await engineForTests()
if (skipReason) console.warn(`skipping the Docker contract on the real engine: ${skipReason}`)

let cleanup: EngineCleanup | undefined
let baseImage = ''
beforeAll(async () => {
  if (!engine) return
  cleanup = new EngineCleanup(engine)
  baseImage = await baseImageForTests(engine)
})
afterAll(async () => {
  await cleanup?.run()
})

describeEngineContract(
  'the Docker engine (dockerode)',
  () =>
    engine && cleanup
      ? {
          baseImage,
          engine,
          track: {container: (id) => cleanup!.container(id), image: (reference) => cleanup!.image(reference)},
          unique: uniqueName,
        }
      : undefined,
  skipReason,
)
