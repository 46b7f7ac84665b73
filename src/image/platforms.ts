import {PLATFORMS} from '../config/schema.js'
import {ConfigError} from '../errors.js'
import type {BuildImageOptions, BuildImageResult} from './build-image.js'
import type {Platform} from './dockerfile.js'

/**
 * Images of one model for several platforms. The Dockerfile's one RUN step (the code cache) is there for the engine's
 * own platform only, so building for another CPU needs no emulation: each platform's image is its base image for that
 * platform plus the same files, with onnxruntime's native files for that platform. The local engine keeps one image per
 * tag, so each platform's image is tagged with the platform in the tag (`name:1.0.0-arm64`); the engine's own platform
 * also gets the plain tags, so that `serve` and `docker run name:1.0.0` work here. `push` publishes them under one tag
 * as an OCI image index.
 */

/** `linux/amd64,linux/arm64` -> the platforms, in the order given, each once. */
export function parsePlatforms(value: string, where = '--platform'): Platform[] {
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean)
  const unknown = names.filter((name) => !(PLATFORMS as readonly string[]).includes(name))
  if (names.length === 0 || unknown.length > 0) {
    throw new ConfigError(
      `${where} "${value}": ${unknown.length > 0 ? `unknown platform ${unknown.map((u) => `"${u}"`).join(', ')}` : 'no platform'}`,
      {
        code: 'PLATFORM_INVALID',
        details: {unknown, value},
        suggestions: [`Give one or more of ${PLATFORMS.join(', ')}, separated by commas.`],
      },
    )
  }
  return [...new Set(names as Platform[])]
}

export interface BaseImages {
  /** For every platform without its own. */
  all?: string
  byPlatform: Partial<Record<Platform, string>>
}

/**
 * `--base-image IMAGE` (every platform) and `--base-image linux/arm64=IMAGE` (one platform; an image reference never
 * has "="). Offline, each platform needs a base image of its own: the engine keeps one image per tag.
 */
export function parseBaseImages(values: readonly string[] | undefined): BaseImages {
  const result: BaseImages = {byPlatform: {}}
  for (const value of values ?? []) {
    const equals = value.indexOf('=')
    const platform = equals === -1 ? undefined : parsePlatforms(value.slice(0, equals), `--base-image "${value}"`)[0]
    const already = platform ? result.byPlatform[platform] : result.all
    if (already !== undefined) {
      throw new ConfigError(
        `--base-image is given twice for ${platform ?? 'every platform'}: "${already}" and "${value}"`,
        {
          code: 'BASE_IMAGE_TWICE',
          suggestions: [
            'Give one --base-image IMAGE, and --base-image PLATFORM=IMAGE for a platform that needs another.',
          ],
        },
      )
    }
    if (platform) result.byPlatform[platform] = value.slice(equals + 1)
    else result.all = value
  }
  return result
}

export function baseImageFor(baseImages: BaseImages | undefined, platform: Platform): string | undefined {
  return baseImages?.byPlatform[platform] ?? baseImages?.all
}

/** `host/team/iris:1.0.0` -> `host/team/iris:1.0.0-arm64`. */
export function platformTag(reference: string, platform: Platform): string {
  return `${reference}-${platform.split('/')[1]!}`
}

export interface BuildPlatformsOptions extends Omit<BuildImageOptions, 'platform' | 'baseImage'> {
  platforms: Platform[]
  baseImages?: BaseImages
}

export interface PlatformImage extends BuildImageResult {
  platform: Platform
}

/**
 * Builds one image per platform (one after the other: the engine's classic builder runs one build at a time well on
 * small machines). Every platform's values are checked before the first build starts.
 */
export async function buildPlatformImages(options: BuildPlatformsOptions): Promise<PlatformImage[]> {
  // Here rather than at the top: parsePlatforms is --platform's parser, loaded by every command that has the flag.
  const [{buildImage, defaultTags}, {planBuild}, {enginePlatform}] = await Promise.all([
    import('./build-image.js'),
    import('./context.js'),
    import('../docker/engine.js'),
  ])
  if (options.platforms.length === 1) {
    const [platform] = options.platforms as [Platform]
    const result = await buildImage({...options, baseImage: baseImageFor(options.baseImages, platform), platform})
    return [{...result, platform}]
  }
  const plans = []
  for (const platform of options.platforms) {
    // In order, so that the first mistake is the one reported.
    plans.push(await planBuild({...options, baseImage: baseImageFor(options.baseImages, platform), platform}))
  }
  const plain = options.tags && options.tags.length > 0 ? options.tags : defaultTags(plans[0]!.name, plans[0]!.version)
  const native = options.platforms.find((platform) => platform === enginePlatform(options.engine))
  const images: PlatformImage[] = []
  for (const platform of options.platforms) {
    const tags = [...plain.map((tag) => platformTag(tag, platform)), ...(platform === native ? plain : [])]
    const result = await buildImage({
      ...options,
      baseImage: baseImageFor(options.baseImages, platform),
      platform,
      tags,
    })
    images.push({...result, platform})
  }
  return images
}
