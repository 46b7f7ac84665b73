import {LABELS} from '../image/labels.js'
import {
  type FetchedManifest,
  type ImageManifest,
  MANIFEST_MEDIA_TYPES,
  RegistryClient,
  type RetryOptions,
} from './client.js'
import type {RegistryCredentials} from './credentials.js'
import {platformOf} from './image-index.js'
import {imageName, isSemver, isTag, newestFirst, type RegistryTarget} from './reference.js'
import {isInternalTag} from './tag-once.js'

export interface VersionEntry {
  version: string
  digest: string
  /** The image's creation time from its config blob (ISO 8601), when the registry has it. */
  created?: string
  /** Config blob plus every layer, compressed, as stored in the registry. */
  sizeBytes: number
  /** sha256 of the model file and the git commit, from the image's mlship and OCI labels (in the config blob). */
  modelSha256?: string
  revision?: string
  /** Every tag pointing to the same manifest (the version itself, latest, a git sha...). */
  tags: string[]
  latest: boolean
  /** The platforms it runs on: each platform image of an index with its digest, or the one image's platform. */
  platforms: Array<{platform: string; digest: string}>
}

export interface VersionsResult {
  image: string
  registry: string
  repository: string
  /** The digest `latest` points to; null when there is no latest tag. */
  latest: string | null
  /** The semver-tagged versions, newest first. */
  versions: VersionEntry[]
  /** Tags that are not versions (latest, git shas), with the digest each points to. */
  otherTags: Array<{tag: string; digest: string}>
}

export interface ListVersionsOptions {
  target: RegistryTarget
  credentials?: RegistryCredentials
  retry?: RetryOptions
  /** A client to reuse (its auth tokens); made from target/credentials when absent. */
  client?: RegistryClient
}

interface ImageConfigBlob {
  created?: string
  architecture?: string
  os?: string
  variant?: string
  config?: {Labels?: Record<string, string> | null}
}

interface ImageDetails {
  created?: string
  sizeBytes: number
  modelSha256?: string
  revision?: string
  platforms: Array<{platform: string; digest: string}>
}

/** Reads tags, manifests and config blobs through the Registry HTTP API v2: nothing is pulled. */
export async function listVersions(options: ListVersionsOptions): Promise<VersionsResult> {
  const client =
    options.client ??
    new RegistryClient({
      credentials: options.credentials,
      host: options.target.host,
      repository: options.target.repository,
      retry: options.retry,
    })
  // A tag that is not of the tag grammar cannot be asked for safely (it would go into a URL path): a registry that
  // lists one is skipped over, not followed.
  const tags = (await client.tags()).filter(isTag)

  // A handful of requests per tag; a few at a time keeps a large repository quick without flooding the registry.
  const fetched = await mapLimit(tags, 4, async (tag) => ({manifest: await client.manifest(tag), tag}))
  const byDigest = new Map<string, {manifest: FetchedManifest; tags: string[]}>()
  for (const {manifest, tag} of fetched) {
    if (!manifest) continue // deleted between listing and fetching
    const entry = byDigest.get(manifest.digest) ?? {manifest, tags: []}
    entry.tags.push(tag)
    byDigest.set(manifest.digest, entry)
  }

  const latest = fetched.find((f) => f.tag === 'latest')?.manifest?.digest ?? null
  const details = new Map<string, ImageDetails>()
  await mapLimit([...byDigest.values()], 4, async ({manifest}) => {
    details.set(manifest.digest, await describeManifest(client, manifest))
  })

  const versions: VersionEntry[] = []
  const otherTags: Array<{tag: string; digest: string}> = []
  for (const {manifest, tag} of fetched) {
    if (!manifest) continue
    if (!isSemver(tag)) {
      // mlship's own claim and temporary push tags are bookkeeping, not anything to pull.
      if (!isInternalTag(tag)) otherTags.push({digest: manifest.digest, tag})
      continue
    }
    const detail = details.get(manifest.digest)!
    versions.push({
      created: detail.created,
      digest: manifest.digest,
      latest: manifest.digest === latest,
      modelSha256: detail.modelSha256,
      platforms: detail.platforms,
      revision: detail.revision,
      sizeBytes: detail.sizeBytes,
      tags: [...byDigest.get(manifest.digest)!.tags].sort(),
      version: tag,
    })
  }
  otherTags.sort((a, b) => a.tag.localeCompare(b.tag))

  return {
    image: imageName(options.target),
    latest,
    otherTags,
    registry: options.target.host,
    repository: options.target.repository,
    versions: await newestFirst(versions, (entry) => entry.version),
  }
}

/**
 * Creation time, stored size and platforms of an image; for a multi-platform index, the platforms its entries name
 * and the time, labels and size of its first platform's image.
 */
async function describeManifest(client: RegistryClient, fetched: FetchedManifest): Promise<ImageDetails> {
  let manifest: ImageManifest = fetched.manifest
  let platforms: ImageDetails['platforms'] = []
  if (isIndex(fetched.mediaType, manifest)) {
    // Attestation manifests (buildx) are listed with the platform unknown/unknown: not a platform to run on.
    const images = (manifest.manifests ?? []).filter((m) => m.platform?.os !== 'unknown')
    platforms = images.flatMap((m) => {
      const platform = platformOf(m)
      return platform ? [{digest: m.digest, platform}] : []
    })
    const first = images[0] ?? manifest.manifests?.[0]
    if (!first) return {platforms, sizeBytes: 0}
    const child = await client.manifest(first.digest)
    if (!child) return {platforms, sizeBytes: 0}
    manifest = child.manifest
  }
  const sizeBytes = (manifest.config?.size ?? 0) + (manifest.layers ?? []).reduce((sum, layer) => sum + layer.size, 0)
  if (!manifest.config) return {platforms, sizeBytes}
  const config = await client.blobJson<ImageConfigBlob>(manifest.config.digest).catch(() => undefined)
  const labels = config?.config?.Labels ?? {}
  if (platforms.length === 0 && config?.os && config.architecture)
    platforms = [{digest: fetched.digest, platform: `${config.os}/${config.architecture}`}]
  return {
    created: config?.created,
    modelSha256: labels[LABELS.modelSha256],
    platforms,
    revision: labels[LABELS.revision],
    sizeBytes,
  }
}

function isIndex(mediaType: string, manifest: ImageManifest): boolean {
  return (
    mediaType === MANIFEST_MEDIA_TYPES.dockerList ||
    mediaType === MANIFEST_MEDIA_TYPES.ociIndex ||
    Array.isArray(manifest.manifests)
  )
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = Array.from({length: items.length})
  let next = 0
  const workers = Array.from({length: Math.min(limit, items.length)}, async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index]!)
    }
  })
  await Promise.all(workers)
  return results
}
