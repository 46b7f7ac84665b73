/**
 * An image of a model whose model.yaml has an `experiment:` (issue 12) on a real Docker engine: both variants answer
 * in the container, each answer names its variant, a sticky key keeps its arm, and each variant is a layer of its own
 * that a rebuild re-uses when only something else changed. Needs an engine and a Node.js base image:
 * `source scripts/test-env.sh`.
 */
import {appendFile, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runContainer, type RunningContainer, waitReady} from '../container/container.js'
import type {DockerEngine} from '../docker/engine.js'
import {baseImageForTests, EngineCleanup, engineForTests, uniqueName} from '../docker/test-support/engine.js'
import {Assigner} from '../experiment/assignment.js'
import {type ExperimentTree, writeExperimentTree} from '../experiment/test-support/experiment-dirs.js'
import {type BuildImageResult, buildImage} from './build-image.js'

const {engine, skipReason} = await engineForTests()
if (skipReason) console.warn(`skipping the experiment image integration tests: ${skipReason}`)

const EXPERIMENT = `  name: iris-ab
  variants:
    - {name: control, model: ., weight: 50}
    - {name: candidate, model: ../iris-v2, weight: 50}
  sticky: {header: X-User-Id}
`
const SETOSA = [5.1, 3.5, 1.4, 0.2]

interface Answer {
  status: number
  variant: string | null
  body: {variant?: string; model_version?: string; labels?: string[]}
}

async function predict(container: RunningContainer, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(`${container.url}/predict`, {
    body: JSON.stringify({features: [SETOSA]}),
    headers: {'content-type': 'application/json', ...headers},
    method: 'POST',
  })
  return {
    body: (await response.json()) as Answer['body'],
    status: response.status,
    variant: response.headers.get('x-mlship-variant'),
  }
}

describe.skipIf(!engine)('an experiment image on a real engine', () => {
  const docker = engine as DockerEngine
  let cleanup: EngineCleanup
  let baseImage: string
  let tree: ExperimentTree
  let built: BuildImageResult
  let container: RunningContainer
  const name = uniqueName('mlship-it-experiment')
  const layers = async (id: string) => (await docker.images.inspect(id))?.layers ?? []

  beforeAll(async () => {
    cleanup = new EngineCleanup(docker)
    baseImage = await baseImageForTests(docker)
    tree = await writeExperimentTree(EXPERIMENT, {'iris-v2': '2.0.0'})
    // This run's own inputs: on an engine shared with other runs of this file, an image they built from the same
    // files would count as up to date and skip the builds the tests look at.
    await appendFile(path.join(tree.primary, 'model.yaml'), `# ${name}\n`)
    built = await buildImage({baseImage, dir: tree.primary, engine: docker, tags: [cleanup.image(`${name}:1`)]})
    container = await runContainer({containerPort: 8080, engine: docker, hostPort: 0, image: built.imageId})
    cleanup.container(container.id)
    await waitReady({container, engine: docker, timeoutMs: 60_000})
  })

  afterAll(async () => {
    await cleanup?.run()
    await tree?.dispose()
  })

  it('answers with either variant when X-Mlship-Variant names it, and says which one answered', async () => {
    const control = await predict(container, {'x-mlship-variant': 'control'})
    expect(control).toMatchObject({
      body: {labels: ['setosa'], model_version: '1.0.0', variant: 'control'},
      status: 200,
      variant: 'control',
    })
    const candidate = await predict(container, {'x-mlship-variant': 'candidate'})
    expect(candidate).toMatchObject({
      body: {labels: ['setosa'], model_version: '2.0.0', variant: 'candidate'},
      status: 200,
      variant: 'candidate',
    })
    const unknown = await predict(container, {'x-mlship-variant': 'nope'})
    expect(unknown.status).toBe(400)
  })

  it('keeps every user on the arm the stable hash of the key names, the same as outside the image', async () => {
    const assigner = new Assigner({
      arms: [
        {name: 'control', weight: 50},
        {name: 'candidate', weight: 50},
      ],
      experiment: 'iris-ab',
    })
    const seen = new Map<string, Set<string>>()
    for (let round = 0; round < 3; round++) {
      for (let user = 0; user < 20; user++) {
        const answer = await predict(container, {'x-user-id': `user-${user}`})
        expect(answer.status).toBe(200)
        expect(answer.variant).toBe(answer.body.variant)
        const arms = seen.get(`user-${user}`) ?? new Set<string>()
        arms.add(answer.body.variant!)
        seen.set(`user-${user}`, arms)
      }
    }
    for (const [user, arms] of seen) expect([...arms]).toEqual([assigner.assignKey(user)])
    // 20 users at 50/50: both arms answered some of them.
    expect(new Set([...seen.values()].flatMap((arms) => [...arms]))).toEqual(new Set(['control', 'candidate']))
  })

  it("re-uses the other variants' layers: a new variant rebuilds its own layer, a new model.yaml none of them", async () => {
    const before = await layers(built.imageId)
    // Layers from the end: model.yaml, the candidate's model and model.yaml, the primary's model, then the runtime.
    const candidateYaml = path.join(tree.root, 'iris-v2', 'model.yaml')
    await writeFile(candidateYaml, (await readFile(candidateYaml, 'utf8')).replace('version: 2.0.0', 'version: 2.0.1'))
    const newCandidate = await buildImage({
      baseImage,
      dir: tree.primary,
      engine: docker,
      tags: [cleanup.image(`${name}:2`)],
    })
    expect(newCandidate.upToDate).toBe(false)
    const afterCandidate = await layers(newCandidate.imageId)
    expect(afterCandidate).toHaveLength(before.length)
    expect(afterCandidate.slice(0, -2)).toEqual(before.slice(0, -2))
    expect(afterCandidate.at(-2)).not.toBe(before.at(-2))

    const primaryYaml = path.join(tree.primary, 'model.yaml')
    await writeFile(primaryYaml, (await readFile(primaryYaml, 'utf8')).replace('version: 1.0.0', 'version: 1.0.1'))
    const newConfig = await buildImage({
      baseImage,
      dir: tree.primary,
      engine: docker,
      tags: [cleanup.image(`${name}:3`)],
    })
    // Only the config stage is built (FROM the model stage, COPY config/, LABEL), though the version is in comments of
    // the runtime stage's Dockerfile.
    expect(newConfig.steps.total - newConfig.steps.cached).toBe(3)
    const afterConfig = await layers(newConfig.imageId)
    expect(afterConfig.slice(0, -1)).toEqual(afterCandidate.slice(0, -1))
    expect(afterConfig.at(-1)).not.toBe(afterCandidate.at(-1))
  })
})
