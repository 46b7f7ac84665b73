import {LABELS} from '../image/labels.js'
import {ConfigError, ExitCode, isMlshipError, MlshipError} from '../errors.js'
import {type ImageManifest, RegistryClient} from '../registry/client.js'
import type {RegistryCredentials, ResolvedCredentials} from '../registry/credentials.js'
import {imageName, type RegistryTarget} from '../registry/reference.js'
import {targetForDir} from '../registry/target.js'
import {parseImageReference} from '../config/image-reference.js'

/** What the manifests need to know of an image: where it is, by digest, and how it runs. */
export interface ResolvedImage {
  /** host/repository@sha256:... (immutable), or the --image reference as given. */
  reference: string
  digest?: string
  /** The numeric user and group the image runs as, from its config (USER 1000:1000 in mlship images). */
  user?: {uid: number; gid?: number}
  /** The port the server listens on, from the image's PORT environment variable. */
  port?: number
  /** cpu or cuda, from the image's dev.mlship.device label. */
  device?: 'cpu' | 'cuda'
  /** Where the reference came from. */
  source: 'registry' | 'flag'
}

/** Finds the image of a model version. A small interface so tests can hand over images without a registry. */
export interface ImageResolver {
  resolve(version: string): Promise<ResolvedImage>
}

interface ImageConfigBlob {
  config?: {User?: string; Env?: string[] | null; Labels?: Record<string, string> | null}
}

/**
 * Resolves `version` to its manifest digest in the registry through the Registry HTTP API v2 (nothing is pulled), and
 * reads the user, port and device from the image config. A version that was never pushed is refused: a manifest that
 * names a tag could run another image tomorrow.
 */
export function registryImageResolver(options: {
  target: RegistryTarget
  credentials?: RegistryCredentials
  client?: RegistryClient
}): ImageResolver {
  const client =
    options.client ??
    new RegistryClient({
      credentials: options.credentials,
      host: options.target.host,
      repository: options.target.repository,
    })
  const image = imageName(options.target)
  return {
    async resolve(version) {
      const fetched = await client.manifest(version)
      if (!fetched) {
        const known = await client.tags().catch(() => [] as string[])
        throw new MlshipError(`${image}:${version} is not in the registry: version ${version} was never pushed`, {
          code: 'VERSION_NOT_PUSHED',
          details: {image, knownTags: known, version},
          exitCode: ExitCode.usage,
          suggestions: [
            `Push it first: \`mlship push\` (the manifests name the image by the digest the registry gives it).`,
            'Or name an image yourself with --image host/repository@sha256:... (a digest keeps every pod on one image).',
            ...(known.length > 0 ? [`Tags in ${image}: ${known.slice(0, 10).join(', ')}`] : []),
          ],
        })
      }
      const manifest = await platformManifest(client, fetched.manifest)
      const config = manifest?.config
        ? await client.blobJson<ImageConfigBlob>(manifest.config.digest).catch(() => undefined)
        : undefined
      return {
        digest: fetched.digest,
        reference: `${image}@${fetched.digest}`,
        source: 'registry',
        ...imageFacts(config),
      }
    },
  }
}

/**
 * The registry of model.yaml (or `registry`, the --registry of the command), asked only when an image is needed (not
 * by --promote or --abort, which move releases already in the manifests).
 */
export function dirImageResolver(options: {
  dir: string
  registry?: string
  /** The credentials for a registry host (docker's config, or a password the command read from stdin). */
  credentials: (host: string) => Promise<ResolvedCredentials>
}): ImageResolver {
  return {
    resolve: async (version) => {
      let target
      try {
        ;({target} = await targetForDir(options.dir, options.registry))
      } catch (error) {
        if (isMlshipError(error) && error.code === 'REGISTRY_NOT_SET') {
          throw new ConfigError(`${error.message}: the manifests name the image by its digest in the registry`, {
            code: 'REGISTRY_NOT_SET',
            details: error.details,
            suggestions: [...error.suggestions, 'Or name the image yourself with --image host/repository@sha256:...'],
          })
        }
        throw error
      }
      const {credentials} = await options.credentials(target.host)
      return registryImageResolver({credentials, target}).resolve(version)
    },
  }
}

/** The image the user named with --image: used as it is (a tag is allowed, with a warning from the caller). */
export function fixedImageResolver(reference: string): ImageResolver {
  const digest = parseImageReference(reference)?.digest
  return {resolve: () => Promise.resolve({reference, source: 'flag', ...(digest ? {digest} : {})})}
}

async function platformManifest(client: RegistryClient, manifest: ImageManifest): Promise<ImageManifest | undefined> {
  if (!Array.isArray(manifest.manifests)) return manifest
  const first =
    manifest.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ??
    manifest.manifests.find((m) => m.platform?.os !== 'unknown')
  if (!first) return undefined
  return (await client.manifest(first.digest))?.manifest
}

export function imageFacts(config: ImageConfigBlob | undefined): Pick<ResolvedImage, 'user' | 'port' | 'device'> {
  const facts: Pick<ResolvedImage, 'user' | 'port' | 'device'> = {}
  const user = /^(\d+)(?::(\d+))?$/.exec(config?.config?.User ?? '')
  if (user) facts.user = {uid: Number(user[1]), ...(user[2] ? {gid: Number(user[2])} : {})}
  const port = (config?.config?.Env ?? []).find((entry) => entry.startsWith('PORT='))?.slice('PORT='.length)
  if (port && /^\d+$/.test(port)) facts.port = Number(port)
  const device = config?.config?.Labels?.[LABELS.device]
  if (device === 'cpu' || device === 'cuda') facts.device = device
  return facts
}
