import type {DockerEngine} from '../docker/engine.js'
import {engineMessage, enginePlatform} from '../docker/engine.js'
import type {ImageSummary} from '../docker/images.js'
import {EngineStreamError, type EngineStreamEvent, followEngineStream} from '../docker/stream.js'
import {imageReferenceName, parseImageReference} from '../config/image-reference.js'
import {imageReferenceSchema} from '../config/schema.js'
import {ConfigError, ExitCode, MlshipError} from '../errors.js'
import {createHash} from 'node:crypto'
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {type BuildContext, packContext, placeFile, type WriteContextOptions, writeBuildContext} from './context.js'
import {type ImageFileSummary, summarizeImageFiles} from './image-files.js'
import {LABELS} from './labels.js'
import {type BuildStage, splitStages, STAGE_LABEL, stageDockerfile, stageSteps} from './stages.js'

/** What building needs of the engine: its platform, its images (to find an up-to-date one) and its builder. */
export type BuildEngine = Pick<DockerEngine, 'info' | 'images' | 'builder'>

export interface BuildImageOptions extends WriteContextOptions {
  engine: BuildEngine
  /** Image references to tag; `name:version` and `name:latest` when absent. */
  tags?: string[]
  /** Build every step again, and build even when an image with the same input digest exists. */
  noCache?: boolean
  /**
   * When `baseImage` is not given: an image of this model built from the same inputs on another base image (by
   * `mlship build --base-image X`) counts as up to date too, rather than a rebuild from build.base_image. For the
   * commands that need an image (serve, push), not for `mlship build` itself.
   */
  reuseOtherBase?: boolean
  onProgress?: (event: BuildProgressEvent) => void
}

export type BuildProgressEvent =
  | {type: 'context'; sizeBytes: number; fileCount: number}
  | {type: 'step'; index: number; total: number; instruction: string}
  | {type: 'cached'; index: number}
  | {type: 'output'; text: string}
  | {type: 'up-to-date'; imageId: string}

export interface BuildImageResult {
  imageId: string
  tags: string[]
  /** The image's size as the engine reports it (all layers, the base image's included). */
  sizeBytes: number
  /** What the image adds to its base image: runtime, server, model and configuration layers. */
  sizeAboveBaseBytes?: number
  baseImage: string
  contextSizeBytes: number
  contextFiles: number
  buildSeconds: number
  /** True when an image with the same input digest existed, so nothing was built. */
  upToDate: boolean
  steps: {total: number; cached: number}
  platform: string
  gpu: boolean
  inputDigest: string
  modelSha256: string
  /** What of the model directory went into the image, and where (the model, its external data, model.yaml). */
  files: ImageFileSummary[]
}

export {type ImageFileSummary, summarizeImageFiles}

export function defaultTags(name: string, version: string): string[] {
  return [`${name}:${version}`, `${name}:latest`]
}

/**
 * Builds the image of a model directory: writes the context, streams it to the engine (classic builder, no
 * network: every file is in the context), follows every event of the build stream, and reports the failing step
 * and the engine's message when a step fails (exit 4).
 */
export async function buildImage(options: BuildImageOptions): Promise<BuildImageResult> {
  const started = performance.now()
  // The code cache's RUN step (DockerfileValues.codeCache) only where this engine runs the image's node natively.
  options = {...options, nativePlatform: options.nativePlatform ?? enginePlatform(options.engine)}
  const context = await writeBuildContext(options)
  try {
    const tags = options.tags && options.tags.length > 0 ? options.tags : defaultTags(context.name, context.version)
    assertTags(tags)
    options.onProgress?.({fileCount: context.fileCount, sizeBytes: context.sizeBytes, type: 'context'})

    // Which base images earlier builds of this model used: only a failed build (for its advice) and reuseOtherBase
    // need them, so the lookup runs beside the rest.
    const otherBases =
      options.baseImage === undefined ? builtBases(options.engine, context) : Promise.resolve<string[]>([])
    otherBases.catch(() => undefined)
    // The stages built earlier are looked up beside the up-to-date image, not after it: a rebuild waits for one
    // round trip to the engine rather than three.
    const stages = splitStages(context.dockerfile)
    const staged = stages && planStages(options, context, stages)
    staged?.catch(() => undefined)
    if (!options.noCache) {
      const existing = await upToDateImage(options.engine, context.inputDigest)
      if (existing) {
        await tagAll(options.engine, existing, tags)
        options.onProgress?.({imageId: existing, type: 'up-to-date'})
        return await result(options.engine, context, existing, tags, started, {cached: 0, total: 0}, true)
      }
    }

    if (!options.noCache && options.reuseOtherBase) {
      for (const baseImage of await otherBases) {
        const other = await writeBuildContext({...options, baseImage})
        try {
          const existing = await upToDateImage(options.engine, other.inputDigest)
          if (existing) {
            await tagAll(options.engine, existing, tags)
            options.onProgress?.({imageId: existing, type: 'up-to-date'})
            return await result(options.engine, other, existing, tags, started, {cached: 0, total: 0}, true)
          }
        } finally {
          await other.dispose()
        }
      }
    }

    const {imageId, steps} = staged
      ? await runStagedBuild(options, context, await staged, tags, otherBases)
      : await runBuild(options, context.contextDir, {otherBases, platform: context.values.platform, tags})
    return await result(options.engine, context, imageId, tags, started, steps, false)
  } finally {
    await context.dispose()
  }
}

function assertTags(tags: string[]): void {
  const bad = tags.filter((tag) => !imageReferenceSchema.safeParse(tag).success)
  if (bad.length > 0) {
    throw new ConfigError(`Not a valid image reference: ${bad.map((t) => JSON.stringify(t)).join(', ')}.`, {
      code: 'TAG_INVALID',
      suggestions: ['A tag looks like "iris-classifier:1.0.0" or "registry:5000/team/iris:1.0.0".'],
    })
  }
}

// Each candidate base costs a build context (about a second): the few most recent are enough.
const MAX_OTHER_BASES = 3

/**
 * The base images that images of this model (name and version, device and platform) were built on, newest first,
 * other than the context's own: where `mlship build --base-image` put it.
 */
async function builtBases(engine: BuildEngine, context: BuildContext): Promise<string[]> {
  const labels = context.values.labels
  const images = await engine.images.listByLabels(
    [LABELS.modelName, LABELS.modelVersion, LABELS.device, LABELS.platform].map((key) => `${key}=${labels[key]}`),
  )
  const bases = images
    .sort((a, b) => b.created - a.created)
    .map((image) => image.labels[LABELS.baseName])
    .filter((base): base is string => base !== undefined && base !== context.values.baseImage)
  return [...new Set(bases)].slice(0, MAX_OTHER_BASES)
}

/** An image built from exactly these inputs (same input digest label), whatever it is tagged: no need to build. */
async function upToDateImage(engine: BuildEngine, digest: string): Promise<string | undefined> {
  const images = await engine.images.listByLabels([`${LABELS.inputDigest}=${digest}`])
  return images.sort((a, b) => b.created - a.created)[0]?.id
}

async function tagAll(engine: BuildEngine, imageId: string, tags: string[]): Promise<void> {
  for (const tag of tags) {
    const {repo, tag: version} = splitReference(tag)
    await engine.images.tag(imageId, repo, version)
  }
}

/** "host:5000/team/name:1.0" -> {repo: "host:5000/team/name", tag: "1.0"}: what the engine's tag call takes. */
export function splitReference(reference: string): {repo: string; tag: string} {
  const parsed = parseImageReference(reference)
  if (!parsed) throw new Error(`not an image reference: ${JSON.stringify(reference)}`)
  return {repo: imageReferenceName(parsed), tag: parsed.tag ?? 'latest'}
}

interface StepState {
  index: number
  total: number
  instruction: string
  cached: number
  output: string[]
}

const STEP_LINE = /^Step (\d+)\/(\d+) : (.*)$/

interface EngineBuild {
  tags: string[]
  platform: string
  otherBases: Promise<string[]>
  /** Steps of earlier stages, and the steps of every stage together: how this build's steps are numbered. */
  stepOffset?: number
  stepTotal?: number
}

async function runBuild(
  options: BuildImageOptions,
  contextDir: string,
  build: EngineBuild,
): Promise<{imageId: string; steps: {total: number; cached: number}}> {
  const {engine} = options
  // Only ask for a platform when it differs from the engine's: the classic builder then resolves FROM for it.
  const request = {
    noCache: Boolean(options.noCache),
    platform: build.platform === enginePlatform(engine) ? undefined : build.platform,
    tags: build.tags,
  }

  const offset = build.stepOffset ?? 0
  const state: StepState = {cached: 0, index: 0, instruction: '', output: [], total: 0}
  let imageId: string | undefined
  const onEvent = (event: EngineStreamEvent) => {
    const id = event.aux?.ID
    if (typeof id === 'string') imageId = id
    if (!event.stream) return
    for (const line of event.stream.split('\n')) {
      const trimmed = line.trimEnd()
      if (!trimmed) continue
      const step = STEP_LINE.exec(trimmed)
      if (step) {
        state.index = offset + Number(step[1])
        state.total = build.stepTotal ?? Number(step[2])
        state.instruction = step[3]!
        state.output = []
        options.onProgress?.({index: state.index, instruction: state.instruction, total: state.total, type: 'step'})
        continue
      }
      if (/^ ---> Using cache$/.test(trimmed)) {
        state.cached++
        options.onProgress?.({index: state.index, type: 'cached'})
        continue
      }
      const built = /^Successfully built ([0-9a-f]+)$/.exec(trimmed)
      if (built && !imageId) imageId = built[1]
      if (/^ ---> /.test(trimmed) || /^Successfully (built|tagged) /.test(trimmed)) continue
      state.output.push(trimmed)
      if (state.output.length > 50) state.output.shift()
      options.onProgress?.({text: trimmed, type: 'output'})
    }
  }

  try {
    await followEngineStream(await engine.builder.build(await packContext(contextDir), request), onEvent)
  } catch (error) {
    throw buildFailed(error, state, await build.otherBases.catch(() => []))
  }
  if (!imageId) throw buildFailed(new Error('the engine did not report the id of the image it built'), state)
  return {
    imageId: imageId.startsWith('sha256:') ? imageId : `sha256:${imageId}`,
    steps: {cached: state.cached, total: state.total},
  }
}

interface StagePlan {
  stage: BuildStage
  /** The context files its COPY instructions read. */
  files: string[]
  /** Its stage label (the digest of its inputs and those of the stages before); undefined for the last stage. */
  label: string | undefined
  /** The image built earlier from the same inputs, when there is one. */
  found: string | undefined
}

/**
 * The stages with the digest of their inputs (the base image's id, their instructions, their files), each looked up
 * among the stage images on the engine: one list of every stage image, however many stages there are.
 */
async function planStages(
  options: BuildImageOptions,
  context: BuildContext,
  stages: BuildStage[],
): Promise<StagePlan[]> {
  const {engine} = options
  const readByLater = stages.flatMap((stage) => stage.sources ?? [])
  let digest = `${context.values.platform}\0${await imageIdOf(engine, context.values.baseImage)}`
  const plans = stages.map((stage, index): StagePlan => {
    const last = index === stages.length - 1
    const files = [...context.fileDigests.keys()].filter((file) => ownedBy(stage, file, readByLater))
    digest = stageDigest(digest, stage, files, context.fileDigests)
    return {
      files,
      found: undefined,
      label: last ? undefined : `${stage.name}:${digest}`,
      stage,
    }
  })
  if (options.noCache) return plans
  const images = await engine.images.listByLabels([STAGE_LABEL], {intermediate: true})
  for (const plan of plans) if (plan.label !== undefined) plan.found = stageImage(images, plan.label)
  return plans
}

/** Whether a context path goes into a stage: one its COPY instructions read, or any the later stages do not read. */
function ownedBy(stage: BuildStage, entry: string, readByLater: string[]): boolean {
  return stage.sources
    ? stage.sources.some((source) => covers(source, entry))
    : !readByLater.some((source) => covers(source, entry))
}

/**
 * Builds the image in its three stages (stages.ts). The runtime and model stages found by planStages() are not built
 * again; the stages after the last one found are built in one engine build, FROM that stage's image, each stage but
 * the last ending with its stage label: one round trip to the engine however many stages are built, from a context of
 * their files alone (model.yaml alone after a model.yaml-only change). A stage found counts its steps as cached.
 */
async function runStagedBuild(
  options: BuildImageOptions,
  context: BuildContext,
  plans: StagePlan[],
  tags: string[],
  otherBases: Promise<string[]>,
): Promise<{imageId: string; steps: {total: number; cached: number}}> {
  const readByLater = plans.flatMap((plan) => plan.stage.sources ?? [])
  // A stage found stands for the stages before it too (its digest covers theirs): start after the last one found.
  const resume = plans.findLastIndex((plan) => plan.found !== undefined)
  const parent = resume >= 0 ? plans[resume]!.found : undefined
  const toBuild = plans.slice(resume + 1)
  // A found stage was built FROM the one before it; of the stages built now only the first has a FROM line.
  const steps = plans.map((plan, index) =>
    stageSteps(plan.stage, index > 0 && index <= resume + 1, plan.label !== undefined),
  )
  const total = steps.reduce((n, stage) => n + stage.length, 0)
  let offset = 0
  for (const stage of steps.slice(0, resume + 1)) {
    stage.forEach((instruction, i) => {
      options.onProgress?.({index: offset + i + 1, instruction, total, type: 'step'})
      options.onProgress?.({index: offset + i + 1, type: 'cached'})
    })
    offset += stage.length
  }
  // Folders too: an empty one (data/, the server's writable folder) is copied as it is.
  const folders = (await readdir(context.contextDir, {recursive: true, withFileTypes: true}))
    .filter((entry) => entry.isDirectory())
    .map((entry) => `${toPosix(path.relative(context.contextDir, path.join(entry.parentPath, entry.name)))}/`)
  const dir = await mkdtemp(path.join(os.tmpdir(), `mlship-stage-${toBuild[0]!.stage.name}-`))
  try {
    for (const folder of folders.filter((f) => toBuild.some((plan) => ownedBy(plan.stage, f, readByLater))))
      await mkdir(path.join(dir, folder), {recursive: true})
    for (const file of toBuild.flatMap((plan) => plan.files))
      await placeFile(path.join(context.contextDir, file), path.join(dir, file), true)
    const dockerfile = toBuild
      .map((plan, i) => stageDockerfile(plan.stage, i === 0 ? parent : undefined, plan.label))
      .join('')
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile)
    const built = await runBuild(options, dir, {
      otherBases,
      platform: context.values.platform,
      stepOffset: offset,
      stepTotal: total,
      tags,
    })
    return {imageId: built.imageId, steps: {cached: offset + built.steps.cached, total}}
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/')
}

/** A context path a COPY source names: the file itself, or a file inside a folder it names. */
function covers(source: string, file: string): boolean {
  const clean = source.replace(/^\.\//, '')
  return clean.endsWith('/') ? file.startsWith(clean) : file === clean || file.startsWith(`${clean}/`)
}

/**
 * A stage's inputs: the stage before, its instructions and the files they read. Its instructions, not its text: the
 * Dockerfile's comments name the model's version, and a version bump must not rebuild the runtime stage (and, FROM
 * its new image, the model stage and every variant's layer with it).
 */
function stageDigest(before: string, stage: BuildStage, files: string[], fileDigests: Map<string, string>): string {
  const hash = createHash('sha256').update(`${before}\0${stage.name}\0${stage.instructions.join('\n')}\0`)
  for (const file of [...files].sort()) hash.update(`${file}\0${fileDigests.get(file)}\n`)
  return `sha256:${hash.digest('hex')}`
}

/** The local id of an image, or its reference when the engine does not have it (the build will say so). */
async function imageIdOf(engine: BuildEngine, reference: string): Promise<string> {
  return (await engine.images.inspect(reference))?.id ?? reference
}

/**
 * The stage image built earlier from the same inputs, among the stage images listed. Every image built FROM it
 * inherits its label (the steps of later stages, the final images): the stage image is the one whose parent does not
 * carry the label.
 */
function stageImage(images: ImageSummary[], label: string): string | undefined {
  const same = images.filter((image) => image.labels[STAGE_LABEL] === label)
  const labelled = new Set(same.map((image) => image.id))
  return same.filter((image) => !labelled.has(image.parentId)).sort((a, b) => b.created - a.created)[0]?.id
}

function buildFailed(error: unknown, state: StepState, otherBases: string[] = []): MlshipError {
  const message = error instanceof EngineStreamError ? error.message : engineMessage(error)
  const step = state.index > 0 ? `step ${state.index}/${state.total} (${state.instruction})` : 'before the first step'
  const output = state.output.slice(-10)
  const suggestions = /does not match the specified platform|no matching manifest/i.test(message)
    ? [
        "The base image on this engine is for another platform. Pull the one for the target platform while you have network access (`docker pull --platform linux/arm64 node:20-bookworm-slim`), or build for the engine's platform.",
      ]
    : state.instruction.startsWith('FROM') &&
        /pull access denied|not found|no such host|manifest unknown|repository does not exist/i.test(message)
      ? [
          'The base image is neither on this machine nor reachable. Pull it while you have network access, or pass one that is here with --base-image (or build.base_image in model.yaml).',
          ...(otherBases.length > 0
            ? [`Images of this model were built on ${otherBases.join(', ')}: --base-image ${otherBases[0]} uses it.`]
            : []),
        ]
      : ['Read the engine message above; run again with --no-cache if a cached layer is suspect.']
  return new MlshipError(
    `The image build failed at ${step}: ${message}${output.length > 0 ? `\n${output.map((l) => `  | ${l}`).join('\n')}` : ''}`,
    {
      cause: error,
      code: 'BUILD_FAILED',
      details: {instruction: state.instruction, message, output, step: state.index, totalSteps: state.total},
      exitCode: ExitCode.buildFailed,
      suggestions,
    },
  )
}

async function result(
  engine: BuildEngine,
  context: BuildContext,
  imageId: string,
  tags: string[],
  started: number,
  steps: {total: number; cached: number},
  upToDate: boolean,
): Promise<BuildImageResult> {
  const [image, base] = await Promise.all([
    engine.images.inspect(imageId),
    engine.images.inspect(context.values.baseImage),
  ])
  if (!image) {
    throw new MlshipError(`The image ${imageId} the engine reported is not on it (removed by someone else?).`, {
      code: 'BUILD_FAILED',
      exitCode: ExitCode.buildFailed,
      suggestions: ['Run the build again.'],
    })
  }
  const sizeAboveBaseBytes = base ? image.sizeBytes - base.sizeBytes : undefined
  return {
    baseImage: context.values.baseImage,
    buildSeconds: Math.round((performance.now() - started) / 10) / 100,
    files: summarizeImageFiles(context.files),
    contextFiles: context.fileCount,
    contextSizeBytes: context.sizeBytes,
    gpu: context.values.gpu,
    imageId: image.id,
    inputDigest: context.inputDigest,
    modelSha256: context.modelSha256,
    platform: context.values.platform,
    sizeAboveBaseBytes,
    sizeBytes: image.sizeBytes,
    steps,
    tags,
    upToDate,
  }
}
