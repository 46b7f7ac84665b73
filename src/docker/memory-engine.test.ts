import type {EngineStreamEvent} from './stream.js'
import {describeEngineContract} from './test-support/docker-contract.js'
import {memoryEngine} from './test-support/memory-engine.js'

let runs = 0
let builds = 0
describeEngineContract('the memory engine of the fast tests', () => {
  const engine = memoryEngine()
  engine.images.add({references: ['node:20-bookworm-slim']})
  return {
    baseImage: 'node:20-bookworm-slim',
    engine,
    // The engine runs the command beside the test: the memory container writes and exits a moment after it starts.
    runs: (id, {exitCode, output}) => {
      const [first, ...rest] = output.split(/(?<=\n)/)
      engine.containers.write(id, first ?? '')
      setTimeout(() => {
        engine.containers.write(id, rest.join(''))
        engine.containers.exit(id, exitCode)
      }, 5)
    },
    // The classic builder leaves an image per step, each FROM the one before; the last one gets the tags.
    builds: ({baseImage, steps}) => {
      engine.builder.script = () => {
        let parentId = engine.images.idOf(baseImage) ?? ''
        const labels: Record<string, string> = {}
        const events: EngineStreamEvent[] = [{stream: `Step 1/${steps.length + 1} : FROM ${baseImage}\n`}]
        steps.forEach(([key, value], index) => {
          labels[key] = value
          events.push({stream: `Step ${index + 2}/${steps.length + 1} : LABEL ${key}="${value}"\n`})
          if (index < steps.length - 1) parentId = engine.images.add({labels: {...labels}, parentId}).id
        })
        const id = `sha256:${(++builds).toString(16).padStart(64, 'f')}`
        events.push({aux: {ID: id}}, {stream: `Successfully built ${id.slice(7, 19)}\n`})
        return {events, image: {labels, parentId}}
      }
    },
    track: {container: (id) => id, image: (reference) => reference},
    unique: (prefix) => `${prefix}-${++runs}`,
  }
})
