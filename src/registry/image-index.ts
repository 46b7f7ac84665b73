import type {Platform} from '../image/dockerfile.js'
import {type FetchedManifest, type ManifestDescriptor, MANIFEST_MEDIA_TYPES} from './client.js'
import type {ManifestBytes} from './tag-once.js'

/**
 * An OCI image index over images already in the repository: one entry per platform with the image manifest's media
 * type, digest and size (the size of its exact bytes), as `docker buildx` writes one. arm64 carries variant v8, as the
 * official images do; pulling with --platform linux/arm64 matches it either way.
 */
export function imageIndex(images: Array<{platform: Platform; manifest: FetchedManifest}>): ManifestBytes {
  const index = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPES.ociIndex,
    manifests: images.map(({manifest, platform}) => {
      const [os, architecture] = platform.split('/') as [string, string]
      return {
        mediaType: manifest.mediaType,
        digest: manifest.digest,
        size: manifest.raw.length,
        platform: architecture === 'arm64' ? {architecture, os, variant: 'v8'} : {architecture, os},
      }
    }),
  }
  return {mediaType: MANIFEST_MEDIA_TYPES.ociIndex, raw: Buffer.from(JSON.stringify(index))}
}

/** `linux/arm64` from an index entry's platform (the variant left out); undefined when it names none. */
export function platformOf(descriptor: ManifestDescriptor): string | undefined {
  const {architecture, os} = descriptor.platform ?? {}
  return architecture && os ? `${os}/${architecture}` : undefined
}
