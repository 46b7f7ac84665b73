import {type BuildImageResult, type BuildProgressEvent, buildImage} from '../build/build-image.js'
import {gitInfo} from '../build/git.js'
import {loadConfig} from '../config/load.js'
import type {Platform} from '../build/dockerfile.js'
import {connectEngine, type DockerEngine} from '../docker/engine.js'
import {ExitCode, MlshipError} from '../errors.js'
import {type FetchedManifest, RegistryClient, type RetryOptions} from './client.js'
import type {RegistryCredentials} from './credentials.js'
import {type LayerProgressEvent, pushWithEngine} from './engine-push.js'
import {assertSemver, imageName, imageReference, type RegistryTarget, resolveRegistryTarget} from './reference.js'

export interface PushOptions {
  /** The model directory (or its model.yaml). */
  dir: string
  /** Registry and repository; model.yaml's `registry:` when absent. */
  target?: RegistryTarget
  credentials?: RegistryCredentials
  /** Replace a version tag that already points to another image. */
  force?: boolean
  /** Move `latest` to this version (default true). */
  latest?: boolean
  /** Build flags, used when the image has to be built first. */
  baseImage?: string
  platform?: Platform
  gpu?: boolean
  engine?: DockerEngine
  retry?: RetryOptions
  onProgress?: (event: PushProgressEvent) => void
}

export type PushProgressEvent =
  | LayerProgressEvent
  | {type: 'stage'; stage: 'check' | 'build' | 'push' | 'tag'; message: string}
  | {type: 'build'; event: BuildProgressEvent}

export interface PushResult {
  /** host/repository */
  image: string
  /** The tags now pointing to the pushed manifest: the version, latest, and the git short sha. */
  tags: string[]
  /** The manifest digest: `image@digest` pulls exactly this image. */
  digest: string
  version: string
  /** The local image id (the config digest). */
  imageId: string
  /** False when an image with the same inputs already existed. */
  built: boolean
  /** True when the version already pointed to this very image: nothing was uploaded. */
  alreadyPushed: boolean
  /** True when --force moved an existing version tag to another image. */
  replaced: boolean
  layers: {pushed: number; reused: number; pushedBytes: number}
  git?: {revision: string; tagged: boolean; reason?: string}
  seconds: {build: number; push: number; total: number}
}

/**
 * `mlship push`: check the registry and the credentials, build the image if it is missing or stale (buildImage
 * re-uses an image built from the same inputs), refuse to move an existing version tag to another image unless
 * forced, push the version tag through the engine (only missing layers travel), then point `latest` and the git
 * sha at the same manifest with the Registry API (no layer moves).
 */
export async function push(options: PushOptions): Promise<PushResult> {
  const started = performance.now()
  const progress = options.onProgress ?? (() => {})
  const loaded = await loadConfig(options.dir)
  const target = options.target ?? resolveRegistryTarget(loaded.config, undefined, loaded.file)
  const {version} = loaded.config
  assertSemver(version, `${loaded.file} [version]`)
  const client = new RegistryClient({
    credentials: options.credentials,
    host: target.host,
    repository: target.repository,
    retry: options.retry,
  })

  // Credentials and reachability first: a wrong password fails in a second, before a build, and leaves no tag.
  progress({message: `Checking ${target.host}`, stage: 'check', type: 'stage'})
  await client.ping()

  const engine = options.engine ?? (await connectEngine())
  progress({
    message: `Building ${imageReference(target, version)} if it is missing or stale`,
    stage: 'build',
    type: 'stage',
  })
  const buildStarted = performance.now()
  const build: BuildImageResult = await buildImage({
    baseImage: options.baseImage,
    dir: loaded.file,
    engine,
    gpu: options.gpu,
    onProgress: (event) => progress({event, type: 'build'}),
    platform: options.platform,
    tags: [imageReference(target, version)],
  })
  const buildSeconds = (performance.now() - buildStarted) / 1000

  const existing = await client.manifest(version)
  let alreadyPushed = false
  let replaced = false
  if (existing) {
    const remoteConfig = await configDigest(client, existing)
    if (remoteConfig === build.imageId) alreadyPushed = true
    else if (options.force) replaced = true
    else throw versionExists(target, version, existing.digest)
  }

  const pushStarted = performance.now()
  let digest: string
  let layers = {pushed: 0, pushedBytes: 0, reused: 0}
  if (alreadyPushed) {
    digest = existing!.digest
  } else {
    progress({message: `Pushing ${imageReference(target, version)}`, stage: 'push', type: 'stage'})
    const pushed = await pushWithEngine({
      credentials: options.credentials,
      engine,
      host: target.host,
      onProgress: progress,
      repository: imageName(target),
      tag: version,
    })
    digest = pushed.digest
    layers = {pushed: pushed.pushedLayers, pushedBytes: pushed.pushedBytes, reused: pushed.reusedLayers}
  }

  const extraTags: string[] = []
  if (options.latest !== false) extraTags.push('latest')
  const git = await gitInfo(loaded.dir)
  let gitResult: PushResult['git']
  if (git.revision && git.shortRevision) {
    // A sha tag promises "this commit": a work tree with uncommitted changes would break that promise.
    gitResult = git.dirty
      ? {reason: 'uncommitted changes in the model directory', revision: git.revision, tagged: false}
      : {revision: git.revision, tagged: true}
    if (!git.dirty) extraTags.push(git.shortRevision)
  }
  if (extraTags.length > 0) {
    progress({message: `Tagging ${extraTags.join(', ')}`, stage: 'tag', type: 'stage'})
    const manifest = await client.manifest(digest)
    if (!manifest)
      throw new MlshipError(`${target.host} does not have the manifest it just accepted (${digest})`, {
        code: 'REGISTRY_ERROR',
        exitCode: ExitCode.registry,
      })
    for (const tag of extraTags) await client.putManifest(tag, manifest.raw, manifest.mediaType)
  }

  const pushSeconds = (performance.now() - pushStarted) / 1000
  return {
    alreadyPushed,
    built: !build.upToDate,
    digest,
    git: gitResult,
    image: imageName(target),
    imageId: build.imageId,
    layers,
    replaced,
    seconds: {build: round(buildSeconds), push: round(pushSeconds), total: round((performance.now() - started) / 1000)},
    tags: [version, ...extraTags],
    version,
  }
}

function round(seconds: number): number {
  return Math.round(seconds * 100) / 100
}

/** The image config digest (= the engine's image id) a manifest refers to; for an index, of its first image. */
async function configDigest(client: RegistryClient, fetched: FetchedManifest): Promise<string | undefined> {
  if (fetched.manifest.config) return fetched.manifest.config.digest
  const first = fetched.manifest.manifests?.[0]
  if (!first) return undefined
  return (await client.manifest(first.digest))?.manifest.config?.digest
}

function versionExists(target: RegistryTarget, version: string, digest: string): MlshipError {
  return new MlshipError(
    `${imageReference(target, version)} already exists and points to another image (${digest.slice(0, 19)}): version tags are immutable`,
    {
      code: 'VERSION_EXISTS',
      details: {digest, image: imageName(target), version},
      exitCode: ExitCode.registry,
      suggestions: [
        'Bump `version` in model.yaml (e.g. to the next patch version) and push again.',
        'Or replace the version on purpose with --force (anyone who pulled it keeps the old image).',
      ],
    },
  )
}
