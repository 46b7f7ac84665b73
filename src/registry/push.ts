import type {BuildProgressEvent} from '../image/build-image.js'
import type {Platform} from '../image/dockerfile.js'
import {gitInfo} from '../image/git.js'
import {type BaseImages, buildPlatformImages, type PlatformImage} from '../image/platforms.js'
import {loadConfig} from '../config/load.js'
import {connectEngine, type DockerEngine} from '../docker/engine.js'
import {ExitCode, MlshipError} from '../errors.js'
import {type FetchedManifest, RegistryClient, type RetryOptions} from './client.js'
import type {RegistryCredentials} from './credentials.js'
import {type LayerProgressEvent, pushWithEngine} from './engine-transfer.js'
import {imageIndex, platformOf} from './image-index.js'
import {assertVersionTag, imageName, imageReference, type RegistryTarget, resolveRegistryTarget} from './reference.js'
import {
  type Clock,
  type ManifestBytes,
  removeTag,
  SYSTEM_CLOCK,
  tagOnce,
  temporaryPushTag,
  versionExists,
} from './tag-once.js'

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
  /** Build flags, used when an image has to be built first. */
  baseImages?: BaseImages
  /** One platform: one image. Several: one image each, published under one tag as an OCI image index. */
  platforms?: Platform[]
  gpu?: boolean
  engine?: DockerEngine
  retry?: RetryOptions
  clock?: Clock
  onProgress?: (event: PushProgressEvent) => void
}

export type PushProgressEvent =
  | LayerProgressEvent
  | {type: 'stage'; stage: 'check' | 'build' | 'push' | 'tag'; message: string}
  | {type: 'build'; event: BuildProgressEvent}

export interface PushedPlatform {
  /** linux/amd64, linux/arm64 */
  platform: string
  /** The platform image's manifest digest (`image@digest` pulls exactly it). */
  digest: string
  /** The local image id (the config digest). */
  imageId: string
}

export interface PushResult {
  /** host/repository */
  image: string
  /** The tags now pointing to the pushed manifest: the version, latest, and the git short sha. */
  tags: string[]
  /** The digest the version tag points to: the image's manifest, or the image index for several platforms. */
  digest: string
  /** OCI image index for several platforms; the image manifest's own media type for one. */
  mediaType: string
  version: string
  /** The local image id (the config digest) of the first platform. */
  imageId: string
  /** Each platform's image: one entry for a single-platform push. */
  platforms: PushedPlatform[]
  /** False when every image with the same inputs already existed. */
  built: boolean
  /** True when the version already pointed to this very image (or index): nothing was uploaded. */
  alreadyPushed: boolean
  /** True when --force moved an existing version tag to another image. */
  replaced: boolean
  layers: {pushed: number; reused: number; pushedBytes: number}
  /** Temporary tags the registry would not delete (it refuses DELETE); harmless, but visible to other tools. */
  leftoverTags: string[]
  git?: {revision: string; tagged: boolean; reason?: string}
  seconds: {build: number; push: number; total: number}
}

/**
 * `mlship push`: check the registry and the credentials, build the images that are missing or stale (buildImage
 * re-uses an image built from the same inputs), refuse an existing version with another image early unless forced,
 * push each image through the engine under a unique temporary tag (only missing layers travel), then create the
 * version tag with tagOnce (of two pushes racing for one version exactly one wins; the other fails with exit 6),
 * remove the temporary tags, and point `latest` and the git sha at the same manifest (no layer moves).
 */
export async function push(options: PushOptions): Promise<PushResult> {
  const started = performance.now()
  const clock = options.clock ?? SYSTEM_CLOCK
  const progress = options.onProgress ?? (() => {})
  const loaded = await loadConfig(options.dir)
  const target = options.target ?? resolveRegistryTarget(loaded.config, undefined, loaded.file)
  const {version} = loaded.config
  assertVersionTag(version, `${loaded.file} [version]`)
  const platforms = options.platforms ?? [loaded.config.build.platform]
  const client = new RegistryClient({
    credentials: options.credentials,
    host: target.host,
    repository: target.repository,
    retry: options.retry,
  })
  const image = imageName(target)

  // Credentials and reachability first: a wrong password fails in a second, before a build, and leaves no tag.
  progress({message: `Checking ${target.host}`, stage: 'check', type: 'stage'})
  await client.ping()

  const engine = options.engine ?? (await connectEngine())
  progress({
    message: `Building ${imageReference(target, version)} (${platforms.join(', ')}) if missing or stale`,
    stage: 'build',
    type: 'stage',
  })
  const buildStarted = performance.now()
  const builds = await buildPlatformImages({
    baseImages: options.baseImages,
    dir: loaded.file,
    engine,
    gpu: options.gpu,
    onProgress: (event) => progress({event, type: 'build'}),
    platforms,
    // `mlship build --base-image X` then `mlship push`: the image built on X is the one to push.
    reuseOtherBase: true,
    tags: [imageReference(target, version)],
  })
  const buildSeconds = (performance.now() - buildStarted) / 1000

  // Early, before any upload: the version exists already, with these images or others.
  const existing = await client.manifest(version)
  const pushStarted = performance.now()
  if (existing) {
    const remote = await remoteImages(client, existing)
    if (sameImages(remote, builds)) {
      progress({message: `${imageReference(target, version)} already holds these images`, stage: 'tag', type: 'stage'})
      const extra = await tagExtras(client, loaded.dir, existing, options.latest, progress)
      return result({
        alreadyPushed: true,
        builds,
        digest: existing.digest,
        extra,
        image,
        leftoverTags: [],
        mediaType: existing.mediaType,
        platforms: platformDigests(remote, builds),
        replaced: false,
        seconds: seconds(started, buildSeconds, pushStarted),
        version,
      })
    }
    if (!options.force) throw versionExists(image, version, existing.digest)
  }

  // Each image goes up under a tag no one else uses: the version tag is created only once every image is there.
  const pushed: Array<{build: PlatformImage; tag: string; manifest: FetchedManifest}> = []
  const layers = {pushed: 0, pushedBytes: 0, reused: 0}
  const leftoverTags: string[] = []
  try {
    for (const build of builds) {
      const tag = temporaryPushTag(clock, builds.length > 1 ? build.platform.split('/')[1] : '')
      progress({message: `Pushing ${build.platform} image of ${image}:${version}`, stage: 'push', type: 'stage'})
      await engine.images.tag(build.imageId, image, tag)
      try {
        const engineResult = await pushWithEngine({
          credentials: options.credentials,
          engine,
          host: target.host,
          onProgress: progress,
          repository: image,
          tag,
        })
        layers.pushed += engineResult.pushedLayers
        layers.reused += engineResult.reusedLayers
        layers.pushedBytes += engineResult.pushedBytes
        const manifest = await client.manifest(engineResult.digest)
        if (!manifest) throw missingManifest(target.host, engineResult.digest)
        pushed.push({build, manifest, tag})
      } finally {
        await engine.images.remove(`${image}:${tag}`, {prune: false}).catch(() => undefined)
      }
    }

    const bytes: ManifestBytes =
      pushed.length === 1
        ? {mediaType: pushed[0]!.manifest.mediaType, raw: pushed[0]!.manifest.raw}
        : imageIndex(pushed.map(({build, manifest}) => ({manifest, platform: build.platform})))
    progress({message: `Tagging ${image}:${version}`, stage: 'tag', type: 'stage'})
    const tagged = await tagOnce({clock, force: options.force, image, manifest: bytes, store: client, tag: version})
    const final = await client.manifest(tagged.digest)
    if (!final) throw missingManifest(target.host, tagged.digest)
    const extra = await tagExtras(client, loaded.dir, final, options.latest, progress)
    return result({
      alreadyPushed: tagged.outcome === 'unchanged',
      builds,
      digest: tagged.digest,
      extra,
      image,
      layers,
      leftoverTags,
      mediaType: bytes.mediaType,
      platforms: pushed.map(({build, manifest}) => ({
        digest: manifest.digest,
        imageId: build.imageId,
        platform: build.platform,
      })),
      replaced: tagged.outcome === 'replaced',
      seconds: seconds(started, buildSeconds, pushStarted),
      version,
    })
  } finally {
    // Winner or loser: the temporary tags go (the pushed manifests stay where the version or nothing points to them).
    for (const {manifest, tag} of pushed) {
      const removed = await removeTag(client, tag, manifest).catch(() => false)
      if (!removed) leftoverTags.push(tag)
    }
  }
}

interface ResultInput {
  alreadyPushed: boolean
  builds: PlatformImage[]
  digest: string
  extra: {tags: string[]; git?: PushResult['git']}
  image: string
  layers?: PushResult['layers']
  leftoverTags: string[]
  mediaType: string
  platforms: PushedPlatform[]
  replaced: boolean
  seconds: PushResult['seconds']
  version: string
}

function result(input: ResultInput): PushResult {
  return {
    alreadyPushed: input.alreadyPushed,
    built: input.builds.some((b) => !b.upToDate),
    digest: input.digest,
    git: input.extra.git,
    image: input.image,
    imageId: input.builds[0]!.imageId,
    layers: input.layers ?? {pushed: 0, pushedBytes: 0, reused: 0},
    // Filled in by the finally block after the result is made: the same array.
    leftoverTags: input.leftoverTags,
    mediaType: input.mediaType,
    platforms: input.platforms,
    replaced: input.replaced,
    seconds: input.seconds,
    tags: [input.version, ...input.extra.tags],
    version: input.version,
  }
}

function seconds(started: number, buildSeconds: number, pushStarted: number): PushResult['seconds'] {
  const round = (s: number) => Math.round(s * 100) / 100
  const now = performance.now()
  return {build: round(buildSeconds), push: round((now - pushStarted) / 1000), total: round((now - started) / 1000)}
}

/** `latest` (unless told not to) and, in a clean git work tree, the short commit sha: mutable tags, PUT directly. */
async function tagExtras(
  client: RegistryClient,
  dir: string,
  manifest: FetchedManifest,
  latest: boolean | undefined,
  progress: (event: PushProgressEvent) => void,
): Promise<{tags: string[]; git?: PushResult['git']}> {
  const tags: string[] = []
  if (latest !== false) tags.push('latest')
  const git = await gitInfo(dir)
  let gitResult: PushResult['git']
  if (git.revision && git.shortRevision) {
    // A sha tag promises "this commit": a work tree with uncommitted changes would break that promise.
    gitResult = git.dirty
      ? {reason: 'uncommitted changes in the model directory', revision: git.revision, tagged: false}
      : {revision: git.revision, tagged: true}
    if (!git.dirty) tags.push(git.shortRevision)
  }
  if (tags.length > 0) {
    progress({message: `Tagging ${tags.join(', ')}`, stage: 'tag', type: 'stage'})
    for (const tag of tags) await client.putManifest(tag, manifest.raw, manifest.mediaType)
  }
  return {git: gitResult, tags}
}

interface RemoteImage {
  platform?: string
  digest: string
  configDigest?: string
}

/** The images a manifest in the registry stands for: itself, or each platform's image of an index. */
async function remoteImages(client: RegistryClient, fetched: FetchedManifest): Promise<RemoteImage[]> {
  if (fetched.manifest.config) return [{configDigest: fetched.manifest.config.digest, digest: fetched.digest}]
  const images: RemoteImage[] = []
  for (const child of fetched.manifest.manifests ?? []) {
    const manifest = await client.manifest(child.digest)
    images.push({configDigest: manifest?.manifest.config?.digest, digest: child.digest, platform: platformOf(child)})
  }
  return images
}

/** The registry holds exactly the images built here (same config digests, the same platforms for an index). */
function sameImages(remote: RemoteImage[], builds: PlatformImage[]): boolean {
  if (remote.length !== builds.length) return false
  if (builds.length === 1) return remote[0]!.configDigest === builds[0]!.imageId
  return builds.every((build) =>
    remote.some((image) => image.platform === build.platform && image.configDigest === build.imageId),
  )
}

function platformDigests(remote: RemoteImage[], builds: PlatformImage[]): PushedPlatform[] {
  return builds.map((build) => ({
    digest: (builds.length === 1 ? remote[0] : remote.find((r) => r.platform === build.platform))!.digest,
    imageId: build.imageId,
    platform: build.platform,
  }))
}

function missingManifest(host: string, digest: string): MlshipError {
  return new MlshipError(`${host} does not have the manifest it just accepted (${digest})`, {
    code: 'REGISTRY_ERROR',
    exitCode: ExitCode.registry,
    suggestions: ['Run the push again; if it persists, the registry lost an upload (check its storage).'],
  })
}
