/**
 * buildImage's own logic on the memory engine: what it reads from the engine's build stream, when it builds nothing,
 * and what a failed build tells the user. The same code against the real engine: image.integration.test.ts.
 */
import {cp, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {EngineStreamEvent} from '../docker/stream.js'
import {memoryEngine, type MemoryEngine} from '../docker/test-support/memory-engine.js'
import {MlshipError} from '../errors.js'
import {examplesDir} from '../util/paths.js'
import {buildImage, type BuildImageOptions, type BuildProgressEvent, splitReference} from './build-image.js'
import {writeBuildContext} from './context.js'
import {LABELS} from './labels.js'
import {STAGE_LABEL} from './stages.js'

const BASE = 'node:20-bookworm-slim'
const BUILT_ID = `sha256:${'b'.repeat(64)}`

let work: string
let engine: MemoryEngine
let options: BuildImageOptions

beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlship-build-image-test-'))
  const dir = path.join(work, 'iris')
  await cp(path.join(examplesDir(), 'iris'), dir, {recursive: true})
  // A one-line server instead of the serving app: bundling it is not what these tests are about.
  const entry = path.join(work, 'server.ts')
  await writeFile(entry, 'console.log("serving")\n')
  // A Dockerfile built in one go: the three stages of mlship's own template (one build each, found again by a label
  // of their inputs) are the real engine's to check, in image.integration.test.ts.
  const template = path.join(work, 'Dockerfile.hbs')
  await writeFile(template, 'FROM {{baseImage}}\nCOPY runtime/ /app/\nLABEL dev.mlship.model.name="{{name}}"\n')
  engine = memoryEngine()
  engine.images.add({references: [BASE], sizeBytes: 200_000_000})
  options = {baseImage: BASE, dir, engine, entryPoints: {main: entry}, template}
})

afterEach(async () => {
  await rm(work, {force: true, recursive: true})
})

/** The build stream of the classic builder for a three-step Dockerfile whose second step is cached. */
function threeSteps(): EngineStreamEvent[] {
  return [
    {stream: `Step 1/3 : FROM ${BASE}\n`},
    {stream: ' ---> 4c1f6b2d0a1e\n'},
    {stream: 'Step 2/3 : COPY runtime/ /app/\n'},
    {stream: ' ---> Using cache\n'},
    {stream: ' ---> 9a8b7c6d5e4f\n'},
    {stream: 'Step 3/3 : LABEL dev.mlship.model.name="iris-classifier"\n'},
    {stream: ' ---> Running in 0123456789ab\n'},
    {stream: 'npm warn something the step printed\n\n'},
    {aux: {ID: BUILT_ID}},
    {stream: `Successfully built ${BUILT_ID.slice(7, 19)}\n`},
    {stream: 'Successfully tagged iris-classifier:1.0.0\n'},
  ]
}

/** The labels an image built from these options carries (the input digest is the one that matters here). */
async function labelsOf(build: BuildImageOptions): Promise<Record<string, string>> {
  const context = await writeBuildContext(build)
  await context.dispose()
  return context.values.labels
}

describe('buildImage on the memory engine', () => {
  it('reports each step, counts the cached ones, tags name:version and name:latest, and sizes what it adds', async () => {
    engine.builder.script = () => ({events: threeSteps(), image: {sizeBytes: 230_000_000}})
    const progress: BuildProgressEvent[] = []

    const result = await buildImage({...options, onProgress: (event) => progress.push(event)})

    expect(result).toMatchObject({
      baseImage: BASE,
      imageId: BUILT_ID,
      sizeAboveBaseBytes: 30_000_000,
      sizeBytes: 230_000_000,
      steps: {cached: 1, total: 3},
      tags: ['iris-classifier:1.0.0', 'iris-classifier:latest'],
      upToDate: false,
    })
    expect(engine.builder.requests).toEqual([
      {noCache: false, platform: undefined, tags: ['iris-classifier:1.0.0', 'iris-classifier:latest']},
    ])
    expect(progress.filter((e) => e.type !== 'context')).toEqual([
      {index: 1, instruction: `FROM ${BASE}`, total: 3, type: 'step'},
      {index: 2, instruction: 'COPY runtime/ /app/', total: 3, type: 'step'},
      {index: 2, type: 'cached'},
      {index: 3, instruction: 'LABEL dev.mlship.model.name="iris-classifier"', total: 3, type: 'step'},
      // The step's own output only: no " ---> " bookkeeping, no "Successfully ..." lines.
      {text: 'npm warn something the step printed', type: 'output'},
    ])
    expect(progress[0]).toMatchObject({type: 'context'})
  })

  it('leaves the size above the base out when the base image is not on the engine', async () => {
    await engine.images.remove(BASE)
    engine.builder.script = () => ({events: threeSteps(), image: {sizeBytes: 230_000_000}})
    const result = await buildImage(options)
    expect(result.sizeAboveBaseBytes).toBeUndefined()
    expect(result.sizeBytes).toBe(230_000_000)
  })

  it("asks the engine for a platform only when it is not the engine's own", async () => {
    engine.builder.script = () => ({events: threeSteps()})
    await buildImage({...options, platform: 'linux/arm64'})
    await buildImage({...options, noCache: true, platform: 'linux/amd64'})
    expect(engine.builder.requests.map((r) => [r.platform, r.noCache])).toEqual([
      ['linux/arm64', false],
      [undefined, true],
    ])
  })

  it('builds nothing for inputs it built before: the image with the same input digest gets the new tags', async () => {
    const labels = await labelsOf(options)
    engine.builder.script = () => ({events: threeSteps(), image: {labels}})
    const first = await buildImage(options)
    const progress: BuildProgressEvent[] = []

    const again = await buildImage({...options, onProgress: (e) => progress.push(e), tags: ['team/iris:candidate']})

    expect(engine.builder.requests).toHaveLength(1)
    expect(again).toMatchObject({imageId: first.imageId, steps: {cached: 0, total: 0}, upToDate: true})
    expect(progress.at(-1)).toEqual({imageId: first.imageId, type: 'up-to-date'})
    expect((await engine.images.inspect('team/iris:candidate'))?.id).toBe(first.imageId)
    // --no-cache builds all the same.
    await buildImage({...options, noCache: true})
    expect(engine.builder.requests).toHaveLength(2)
  })

  it('re-uses the image `build --base-image X` made when asked to (serve, push), and only then', async () => {
    const other = 'registry.example/node:20-slim-patched'
    const labels = await labelsOf({...options, baseImage: other})
    engine.images.add({id: `sha256:${'0'.repeat(63)}1`, labels, sizeBytes: 1})
    engine.builder.script = () => ({events: threeSteps()})
    const {baseImage: _given, ...withoutBase} = options

    const reused = await buildImage({...withoutBase, reuseOtherBase: true, tags: ['iris:serve']})
    expect(reused).toMatchObject({baseImage: other, imageId: `sha256:${'0'.repeat(63)}1`, upToDate: true})
    expect(engine.builder.requests).toHaveLength(0)

    const rebuilt = await buildImage({...withoutBase, tags: ['iris:build']})
    expect(rebuilt.upToDate).toBe(false)
    expect(engine.builder.requests).toHaveLength(1)
  })

  it("mlship's own Dockerfile: the stages are looked up in one list, beside the up-to-date image, built in one go", async () => {
    const {template: _oneGo, ...staged} = options
    let built = 0
    engine.builder.script = () => ({events: [{aux: {ID: `sha256:${String(++built).padStart(64, '0')}`}}]})
    const lookups: Array<{labels: string[]; intermediate: boolean}> = []
    let pending = 0
    let mostAtOnce = 0
    const list = engine.images.listByLabels.bind(engine.images)
    engine.images.listByLabels = async (labels, listOptions) => {
      lookups.push({intermediate: Boolean(listOptions?.intermediate), labels})
      mostAtOnce = Math.max(mostAtOnce, ++pending)
      // An engine answers after a round trip: let the other lookups start meanwhile.
      await new Promise((resolve) => setImmediate(resolve))
      pending--
      return list(labels, listOptions)
    }

    const result = await buildImage(staged)

    expect(engine.builder.requests).toHaveLength(1)
    expect(result.imageId).toBe(`sha256:${'1'.padStart(64, '0')}`)
    expect(lookups).toHaveLength(2)
    expect(lookups).toContainEqual({intermediate: true, labels: [STAGE_LABEL]})
    expect(lookups).toContainEqual({intermediate: false, labels: [`${LABELS.inputDigest}=${result.inputDigest}`]})
    expect(mostAtOnce).toBe(2)
  })

  it('a failed step: exit 4 with the step, the engine message and the last lines the step printed', async () => {
    engine.builder.script = () => ({
      events: [
        {stream: `Step 1/3 : FROM ${BASE}\n`},
        {stream: ' ---> 4c1f6b2d0a1e\n'},
        {stream: 'Step 2/3 : RUN node -e "process.exit(7)"\n'},
        {stream: ' ---> Running in 0123456789ab\n'},
        {stream: 'about to fail\n'},
        {error: 'exit 7', errorDetail: {code: 7, message: "The command '/bin/sh -c node' returned a non-zero code: 7"}},
        {aux: {ID: BUILT_ID}},
      ],
    })

    const error = await buildImage(options).catch((e: unknown) => e)

    expect(error).toBeInstanceOf(MlshipError)
    const failure = error as MlshipError
    expect(failure).toMatchObject({code: 'BUILD_FAILED', exitCode: 4})
    expect(failure.message).toBe(
      'The image build failed at step 2/3 (RUN node -e "process.exit(7)"): ' +
        "The command '/bin/sh -c node' returned a non-zero code: 7\n  | about to fail",
    )
    expect(failure.details).toMatchObject({output: ['about to fail'], step: 2, totalSteps: 3})
    expect(failure.suggestions[0]).toContain('--no-cache')
    expect(await engine.images.inspect(BUILT_ID)).toBeUndefined()
  })

  it('a FROM the engine cannot resolve names the bases this model was built on', async () => {
    const other = 'registry.example/node:20-slim-patched'
    engine.images.add({labels: await labelsOf({...options, baseImage: other})})
    engine.builder.script = () => ({
      events: [
        {stream: 'Step 1/9 : FROM node:20-bookworm-slim\n'},
        {errorDetail: {message: 'pull access denied for node, repository does not exist'}},
      ],
    })
    const {baseImage: _given, ...withoutBase} = options

    const error = (await buildImage(withoutBase).catch((e: unknown) => e)) as MlshipError

    expect(error.message).toMatch(/^The image build failed at step 1\/9 \(FROM node:20-bookworm-slim\): pull access/)
    expect(error.suggestions).toEqual([
      expect.stringContaining('The base image is neither on this machine nor reachable.'),
      `Images of this model were built on ${other}: --base-image ${other} uses it.`,
    ])
  })

  it('a base image for another platform says how to get the right one', async () => {
    engine.builder.script = () => ({
      events: [
        {stream: `Step 1/9 : FROM ${BASE}\n`},
        {error: "The requested image's platform (linux/arm64) does not match the specified platform"},
      ],
    })
    const error = (await buildImage(options).catch((e: unknown) => e)) as MlshipError
    expect(error.exitCode).toBe(4)
    expect(error.suggestions[0]).toContain('docker pull --platform linux/arm64')
  })

  it('a build that reports no image id is a failure, not an image', async () => {
    engine.builder.script = () => ({events: [{stream: 'Step 1/1 : FROM x\n'}]})
    await expect(buildImage(options)).rejects.toMatchObject({
      code: 'BUILD_FAILED',
      message: expect.stringContaining('the engine did not report the id of the image it built'),
    })
  })

  it('refuses a tag that is not an image reference before it builds', async () => {
    await expect(buildImage({...options, tags: ['Iris Classifier:1']})).rejects.toMatchObject({
      code: 'TAG_INVALID',
      exitCode: 2,
    })
    expect(engine.builder.requests).toEqual([])
  })
})

describe('splitReference', () => {
  it.each([
    ['iris:1.0.0', 'iris', '1.0.0'],
    ['127.0.0.1:5000/team/iris:2.0.0', '127.0.0.1:5000/team/iris', '2.0.0'],
    ['127.0.0.1:5000/iris', '127.0.0.1:5000/iris', 'latest'],
  ])('%s', (reference, repo, tag) => {
    expect(splitReference(reference)).toEqual({repo, tag})
  })
})
