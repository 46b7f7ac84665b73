import type {Pixels} from './resample.js'
import {ACCEPTED_IMAGES, imageFormatOf} from './image-format.js'
import {InputError} from './input-error.js'

/** The slice of sharp this module uses (sharp is loaded lazily: only models with image inputs need it). */
type SharpFactory = (typeof import('sharp'))['default']

export interface ImageDecoder {
  /** The image's pixels as 8-bit sRGB, alpha dropped, 3 channels (a grey image too), row by row. */
  decode(bytes: Uint8Array, options: {maxPixels: number; label: string}): Promise<Pixels>
}

/**
 * Decodes with sharp (libvips): the image's size is read from its header first and an image over `maxPixels` is
 * refused before any pixel is decoded (a decompression bomb of a few kilobytes never allocates its gigabytes); sharp's
 * own limitInputPixels guards the decode too. The work runs on libuv's threads, not the calling thread's loop.
 */
export async function sharpImageDecoder(): Promise<ImageDecoder> {
  const sharp = await loadSharp()
  return {
    async decode(bytes, {label, maxPixels}) {
      const format = imageFormatOf(bytes, label)
      const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      let width: number | undefined
      let height: number | undefined
      try {
        ;({height, width} = await sharp(input, {limitInputPixels: false}).metadata())
      } catch (error) {
        throw new InputError(400, `${label}: a broken ${format} file (${firstLine(error)}): send ${ACCEPTED_IMAGES}`)
      }
      if (!width || !height) throw new InputError(400, `${label}: the ${format} file has no image size in its header`)
      if (width * height > maxPixels) {
        throw new InputError(
          413,
          `${label}: the image is ${width} x ${height} = ${width * height} pixels, over the limit of ${maxPixels} (preprocess.image.max_pixels): send a smaller image`,
        )
      }
      try {
        const {data, info} = await sharp(input, {failOn: 'error', limitInputPixels: maxPixels, sequentialRead: true})
          .removeAlpha()
          .toColourspace('srgb')
          .raw({depth: 'uchar'})
          .toBuffer({resolveWithObject: true})
        return {
          channels: info.channels,
          data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
          height: info.height,
          width: info.width,
        }
      } catch (error) {
        throw new InputError(400, `${label}: the ${format} image cannot be decoded (${firstLine(error)})`)
      }
    },
  }
}

/** sharp, with a message that says what to do when its native files are missing. */
export async function loadSharp(): Promise<SharpFactory> {
  try {
    const module = (await import('sharp')) as unknown as {default?: SharpFactory}
    return module.default ?? (module as unknown as SharpFactory)
  } catch (error) {
    throw new Error(
      `image inputs need sharp, which did not load (${firstLine(error)}): reinstall mlship (npm ci) on this platform`,
      {cause: error},
    )
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.replace(/[\s:]+$/, '')
}
