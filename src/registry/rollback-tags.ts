/** The registry's half of a rollback: moves a tag (latest) back to an existing version, with the registry API. */
import {ExitCode, MlshipError} from '../errors.js'
import {RegistryClient, type RetryOptions} from './client.js'
import type {RegistryCredentials} from './credentials.js'
import {imageName, imageReference, isSemver, isTag, newestFirst, type RegistryTarget} from './reference.js'

export interface RollbackRegistryOptions {
  target: RegistryTarget
  version: string
  credentials?: RegistryCredentials
  retry?: RetryOptions
  client?: RegistryClient
  /** The tag to move; `latest` unless told otherwise. */
  tag?: string
}

export interface RollbackRegistryResult {
  image: string
  version: string
  /** The digest `latest` points to now (the version's manifest). */
  digest: string
  /** What `latest` pointed to before; null when there was no latest. */
  previousDigest: string | null
  /** False when `latest` already pointed to this version. */
  moved: boolean
  reference: string
}

/**
 * Points `latest` at a version's manifest by PUTting the same manifest bytes under `latest`: the registry already has
 * every layer and the config, so nothing is pulled or pushed but a few KB of JSON.
 */
export async function rollbackRegistry(options: RollbackRegistryOptions): Promise<RollbackRegistryResult> {
  const tag = options.tag ?? 'latest'
  // Checked before any request: the version becomes part of a URL path, where "../../x" would reach another repository.
  if (!isTag(options.version)) {
    throw new MlshipError(`"${options.version}" is not a version: a version is an image tag`, {
      code: 'VERSION_INVALID',
      details: {image: imageName(options.target), version: options.version},
      exitCode: ExitCode.usage,
      suggestions: [
        'Pass a version such as 1.0.0 or 2.1.0-rc.1 (up to 128 letters, digits, _ . and -, not starting with . or -).',
        `See the versions with \`mlship versions --registry ${imageName(options.target)}\`.`,
      ],
    })
  }
  const client =
    options.client ??
    new RegistryClient({
      credentials: options.credentials,
      host: options.target.host,
      repository: options.target.repository,
      retry: options.retry,
    })
  const [manifest, previousDigest] = await Promise.all([client.manifest(options.version), client.manifestDigest(tag)])
  if (!manifest) {
    const known = await newestFirst((await client.tags()).filter(isSemver), (tag) => tag)
    throw new MlshipError(`${imageReference(options.target, options.version)} does not exist`, {
      code: 'VERSION_NOT_FOUND',
      details: {image: imageName(options.target), known, version: options.version},
      exitCode: ExitCode.usage,
      suggestions: [
        known.length > 0
          ? `Versions in ${imageName(options.target)}: ${known.join(', ')}`
          : `${imageName(options.target)} has no versions yet: push one with \`mlship push\`.`,
      ],
    })
  }

  const result = {
    digest: manifest.digest,
    image: imageName(options.target),
    previousDigest: previousDigest ?? null,
    reference: imageReference(options.target, tag),
    version: options.version,
  }
  if (previousDigest === manifest.digest) return {...result, moved: false}
  const digest = await client.putManifest(tag, manifest.raw, manifest.mediaType)
  return {...result, digest, moved: true}
}
