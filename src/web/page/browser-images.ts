/**
 * Images in the page: the browser decodes them (createImageBitmap, then an OffscreenCanvas to read the pixels at
 * their own size), and the server's own pure pipeline (src/preprocess: Pillow's resize arithmetic, the centre crop,
 * mean/std, the layout) makes the tensor, so a PNG gives the very tensor the server makes. A JPEG can differ by the
 * decoders' rounding (Chromium's and libvips' libjpeg-turbo settings); the tests measure it.
 *
 * What the canvas cannot do as sharp does: a translucent pixel comes back from the canvas premultiplied and divided
 * again (its colour rounded, a fully transparent one black), where the server keeps the stored colour; and the
 * browser turns a photo by its EXIF orientation, which the server does not.
 */
import type {ImageDecoder} from '../../preprocess/image-decode.js'
import {ACCEPTED_IMAGES, type ImageFormat, imageFormatOf} from '../../preprocess/image-format.js'
import {InputError} from '../../preprocess/input-error.js'
import type {PreprocessPlan} from '../../preprocess/plan.js'
import type {PageCanvas, PageGlobals} from './dom.js'

const MEDIA_TYPE: Record<ImageFormat, string> = {JPEG: 'image/jpeg', PNG: 'image/png', WebP: 'image/webp'}

function canvas(page: PageGlobals, width: number, height: number): PageCanvas {
  if (!page.OffscreenCanvas) throw new Error('this browser has no OffscreenCanvas: images cannot be read here')
  return new page.OffscreenCanvas(width, height)
}

/** The browser's decoder, with the server's checks and messages: the format from the bytes, the pixel limit. */
export function canvasImageDecoder(page: PageGlobals): ImageDecoder {
  return {
    async decode(bytes, {label, maxPixels}) {
      const format = imageFormatOf(bytes, label)
      if (!page.createImageBitmap) throw new Error('this browser has no createImageBitmap: images cannot be read here')
      let bitmap
      try {
        // No colour management and no premultiplication: the file's own 8-bit values, as sharp and Pillow read them.
        const blob = new Blob([bytes], {type: MEDIA_TYPE[format]})
        bitmap = await page.createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'})
      } catch (error) {
        throw new InputError(400, `${label}: a broken ${format} file (${String(error)}): send ${ACCEPTED_IMAGES}`)
      }
      const {height, width} = bitmap
      try {
        if (width * height > maxPixels) {
          throw new InputError(
            413,
            `${label}: the image is ${width} x ${height} = ${width * height} pixels, over the limit of ${maxPixels} (preprocess.image.max_pixels): send a smaller image`,
          )
        }
        const context = canvas(page, width, height).getContext('2d', {willReadFrequently: true})!
        context.drawImage(bitmap, 0, 0)
        const {data} = context.getImageData(0, 0, width, height)
        return {channels: 4, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height, width}
      } finally {
        bitmap.close()
      }
    },
  }
}

/**
 * What a page may pass to predict() for an image, as the bytes the decoder takes: a File or Blob (its bytes), an
 * ArrayBuffer, or a picture already on the page (an <img>, ImageBitmap, canvas, ImageData: drawn and encoded as PNG,
 * lossless). Strings (data URLs, base64) and anything else go on unchanged, to the server's checks and messages.
 */
export async function imageSourceBytes(value: unknown, page: PageGlobals): Promise<unknown> {
  if (typeof value === 'string' || value instanceof Uint8Array || value === null || typeof value !== 'object')
    return value
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  if (value instanceof Blob) return new Uint8Array(await value.arrayBuffer())
  const picture = value as {width?: unknown; height?: unknown; naturalWidth?: number; naturalHeight?: number}
  const image = value as {decode?: () => Promise<void>; complete?: boolean}
  if (typeof picture.naturalWidth === 'number' && typeof image.decode === 'function') await image.decode()
  const width = picture.naturalWidth ?? picture.width
  const height = picture.naturalHeight ?? picture.height
  if (typeof width !== 'number' || typeof height !== 'number' || width < 1 || height < 1) return value
  const target = canvas(page, width, height)
  const context = target.getContext('2d')!
  if ((value as {data?: unknown}).data instanceof Uint8ClampedArray) context.putImageData(value, 0, 0)
  else context.drawImage(value, 0, 0)
  return new Uint8Array(await (await target.convertToBlob({type: 'image/png'})).arrayBuffer())
}

/**
 * The body with each image input's values (one, or a list of rows) passed through `toBytes`, where the server's body
 * splitter looks for them: `features` for a model whose one client input is an image, else `inputs[name]`.
 */
export async function resolveImageSources(
  body: unknown,
  plan: PreprocessPlan,
  toBytes: (value: unknown) => Promise<unknown>,
): Promise<unknown> {
  if (plan.images.length === 0 || body === null || typeof body !== 'object' || Array.isArray(body)) return body
  const rows = (value: unknown) => (Array.isArray(value) ? Promise.all(value.map(toBytes)) : toBytes(value))
  const record = body as Record<string, unknown>
  let out = record
  const onlyImage = plan.images.length === 1 && plan.texts.length === 0 && plan.tensorInputs.length === 0
  if (onlyImage && 'features' in record && !('inputs' in record)) out = {...out, features: await rows(record.features)}
  const inputs = record.inputs
  if (inputs !== null && typeof inputs === 'object' && !Array.isArray(inputs)) {
    const resolved: Record<string, unknown> = {...(inputs as Record<string, unknown>)}
    for (const {input} of plan.images) if (input in resolved) resolved[input] = await rows(resolved[input])
    out = {...out, inputs: resolved}
  }
  return out
}
