import {describeEngineContract} from './test-support/docker-contract.js'
import {memoryEngine} from './test-support/memory-engine.js'

let runs = 0
describeEngineContract('the memory engine of the fast tests', () => {
  const engine = memoryEngine()
  engine.images.add({references: ['node:20-bookworm-slim']})
  return {
    baseImage: 'node:20-bookworm-slim',
    engine,
    track: {container: (id) => id, image: (reference) => reference},
    unique: (prefix) => `${prefix}-${++runs}`,
  }
})
