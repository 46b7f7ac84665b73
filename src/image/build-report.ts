import {formatBytes} from '../util/bytes.js'
import type {BuildImageResult} from './build-image.js'
import type {BuildContext} from './context.js'
import {describeImageFiles} from './image-files.js'
import type {PlatformImage} from './platforms.js'

/** What of the model directory goes into the image, one file a line (nothing else of it does). */
export function imageFilesText(files: Parameters<typeof describeImageFiles>[0]): string {
  return `\nFrom the model directory (nothing else of it goes into the image):\n${describeImageFiles(files)
    .map((line) => `  ${line}`)
    .join('\n')}`
}

/** `build --output`: where the context went, how to build it, and what of the model directory it holds. */
export function buildContextText(
  context: Pick<BuildContext, 'contextDir' | 'fileCount' | 'sizeBytes'> & {files: Parameters<typeof imageFilesText>[0]},
  tags: string[],
): string {
  return [
    `Wrote the build context to ${context.contextDir} (${context.fileCount} files, ${formatBytes(context.sizeBytes)}).`,
    `Build it with: docker build ${tags.map((t) => `-t ${t}`).join(' ')} ${context.contextDir}`,
    imageFilesText(context.files),
  ].join('\n')
}

/** A built (or up-to-date) image: its tags, id, size, context and time, its files, and how to run it. */
export function builtImageText(result: BuildImageResult, dir: string): string {
  const aboveBase =
    result.sizeAboveBaseBytes === undefined
      ? ''
      : ` (${formatBytes(result.sizeAboveBaseBytes)} above ${result.baseImage})`
  const cached = result.steps.total > 0 ? ` (${result.steps.cached} of ${result.steps.total} steps cached)` : ''
  return [
    `${result.upToDate ? 'Up to date' : 'Built'} ${result.tags.join(', ')}`,
    `  image    ${result.imageId}`,
    `  size     ${formatBytes(result.sizeBytes)}${aboveBase}`,
    `  context  ${formatBytes(result.contextSizeBytes)} in ${result.contextFiles} files, ${result.platform}` +
      (result.gpu ? ', CUDA' : ''),
    `  time     ${result.buildSeconds.toFixed(1)} s${cached}`,
    imageFilesText(result.files),
    `\nRun it: mlship serve ${dir} --image ${result.tags[0]}`,
  ].join('\n')
}

/** One image per platform, and how to push them under one tag. */
export function platformImagesText(images: PlatformImage[], dir: string, platforms: readonly string[]): string {
  return [
    ...images.flatMap((image) => [
      `${image.upToDate ? 'Up to date' : 'Built'} ${image.platform}: ${image.tags.join(', ')}`,
      `  image    ${image.imageId}, ${formatBytes(image.sizeBytes)} on ${image.baseImage}`,
    ]),
    `\nPush them under one tag (an OCI image index): mlship push ${dir} --platform ${platforms.join(',')}`,
  ].join('\n')
}
