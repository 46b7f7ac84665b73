/**
 * What an encoded image is, from its first bytes: the formats an image input takes. Pure (no sharp): the server and
 * the web page use it alike.
 */
import {InputError} from './input-error.js'

/** The encoded formats an image input takes, with what their files start with. */
export const IMAGE_FORMATS = ['JPEG', 'PNG', 'WebP'] as const
export type ImageFormat = (typeof IMAGE_FORMATS)[number]
export const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const

export const ACCEPTED_IMAGES = `${IMAGE_FORMATS.join(', ')} (${IMAGE_MEDIA_TYPES.join(', ')})`

/** The format an encoded image is in, from its first bytes (never from a file name or a content type). */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'JPEG'
  if (
    bytes.length >= 8 &&
    bytes[0] === 0x89 &&
    bytes[1] === 0x50 &&
    bytes[2] === 0x4e &&
    bytes[3] === 0x47 &&
    bytes[4] === 0x0d &&
    bytes[5] === 0x0a &&
    bytes[6] === 0x1a &&
    bytes[7] === 0x0a
  )
    return 'PNG'
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to))
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP'
  return undefined
}

/** The first bytes of a file that is not an image, for the error message. */
export function describeStart(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'nothing: it is empty'
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')
  const text = /^[\x20-\x7e]{4}/.test(String.fromCharCode(...bytes.subarray(0, 4)))
  return text ? `"${String.fromCharCode(...bytes.subarray(0, 12)).replace(/[^\x20-\x7e]/g, '.')}"` : `bytes ${head}`
}

/** The format of an encoded image, or a 415 that says what the bytes start with and which formats are taken. */
export function imageFormatOf(bytes: Uint8Array, label: string): ImageFormat {
  const format = sniffImageFormat(bytes)
  if (format) return format
  throw new InputError(
    415,
    `${label}: not an image this server reads (it starts with ${describeStart(bytes)}): send ${ACCEPTED_IMAGES}`,
  )
}
