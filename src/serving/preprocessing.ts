import type {Signature} from '../config/schema.js'
import type {ImageDecoder} from '../preprocess/image-decode.js'
import {type ImagePlan, imageRow} from '../preprocess/image-tensor.js'
import {InputError} from '../preprocess/input-error.js'
import type {PreprocessPlan} from '../preprocess/plan.js'
import type {TextEncoder, TextPlan} from '../preprocess/text.js'
import type {DecodeLimits} from './decode.js'
import {badRequest, RequestError} from './request-error.js'
import {type HostTensor, type TensorMap, toFloat16Array} from './tensors.js'

/** What a client sent for one preprocessed input, row by row: encoded images (bytes or data URLs) or texts. */
export type RawRows = Array<Uint8Array | string>
export type RawInputs = Record<string, RawRows>

/**
 * A request with this much text (characters, or bytes of a multipart field, over all its rows) or more is tokenised
 * in a decode thread. Below it the event loop tokenises it itself: that costs less than the hand-over (tokenising a
 * 512-token text takes about a millisecond, a few words tens of microseconds).
 */
export const TEXT_THREAD_CHARS = 1024

/**
 * Turns the images and texts of a request into the tensors its plan declares. Images are decoded by sharp (on libuv's
 * threads) and resized, cropped and normalised by the pure pipeline of src/preprocess; texts are tokenised with the
 * model's tokenizer.json. With decode threads (useThreads), every request with an image, or with TEXT_THREAD_CHARS of
 * text or more, is preprocessed there instead, off the event loop. Every refusal is a RequestError: 400 (not an
 * image, a broken file, text too long), 413 (too many pixels) or 415 (a format it does not read).
 */
export class InputPreprocessor {
  private threads: ((rows: RawInputs) => Promise<TensorMap>) | undefined

  /**
   * The preprocessor of a plan, from its parts: the image decoder (sharp in Node, the canvas in a browser; needed when
   * the plan has images) and a text encoder per text input. Pure: the server (openInputPreprocessor) and the web page
   * build one each.
   */
  constructor(
    readonly plan: PreprocessPlan,
    private readonly limits: DecodeLimits,
    private readonly decoder: ImageDecoder | undefined,
    private readonly encoders: ReadonlyMap<string, TextEncoder>,
  ) {}

  /**
   * Hands the images and texts of a request with an image or long texts to `run` (the server's decode threads:
   * DecodePool.preprocess) instead of decoding, resizing or tokenising them on this thread.
   */
  useThreads(run: (rows: RawInputs) => Promise<TensorMap>): void {
    this.threads = run
  }

  /** The inputs a client sends as an image or a text, by name. */
  kindOf(input: string): 'image' | 'text' | undefined {
    if (this.plan.images.some((p) => p.input === input)) return 'image'
    if (this.plan.texts.some((p) => p.input === input)) return 'text'
    return undefined
  }

  /** The names of the inputs a client sends as an image or text, in signature order. */
  get rawInputs(): string[] {
    return [...this.plan.images, ...this.plan.texts].map((p) => p.input)
  }

  /** The signature of what the client still sends as tensors (for the ordinary request decoders). */
  tensorSignature(signature: Signature): Signature {
    return {inputs: this.plan.tensorInputs, outputs: signature.outputs}
  }

  /** The tensors of every preprocessed input, each given in `raw` (a missing one is a 400). */
  async feeds(raw: RawInputs): Promise<TensorMap> {
    const feeds: TensorMap = {}
    for (const name of Object.keys(raw)) {
      if (!this.kindOf(name)) throw badRequest(`input "${name}" is not sent as an image or text`)
    }
    try {
      const images: RawInputs = {}
      for (const plan of this.plan.images) images[plan.input] = this.rows(raw, plan.input, 'an image')
      const texts: RawInputs = {}
      for (const plan of this.plan.texts) texts[plan.input] = this.rows(raw, plan.input, 'a text')
      if (this.threads && (this.plan.images.length > 0 || textSize(texts) >= TEXT_THREAD_CHARS))
        return await this.threads({...images, ...texts})
      await Promise.all(
        this.plan.images.map(async (plan) => {
          feeds[plan.input] = await this.image(plan, images[plan.input]!)
        }),
      )
      for (const plan of this.plan.texts) Object.assign(feeds, this.text(plan, texts[plan.input]!))
    } catch (error) {
      if (error instanceof InputError) throw new RequestError(error.statusCode, error.message)
      throw error
    }
    return feeds
  }

  private rows(raw: RawInputs, input: string, what: string): RawRows {
    const rows = raw[input]
    if (!rows || rows.length === 0) throw badRequest(`input "${input}" is missing: send ${what}`)
    if (rows.length > this.limits.maxBatchSize)
      throw new RequestError(
        413,
        `input "${input}": ${rows.length} rows, over the batch limit of ${this.limits.maxBatchSize} (serving.max_batch_size)`,
      )
    return rows
  }

  private async image(plan: ImagePlan, rows: RawRows): Promise<HostTensor> {
    const decoder = this.decoder
    if (!decoder) throw new Error(`input "${plan.input}": this preprocessor was made without an image decoder`)
    const perRow = plan.channels * plan.height * plan.width
    const values = new Float32Array(rows.length * perRow)
    await Promise.all(
      rows.map(async (row, index) => {
        const label = rows.length > 1 ? `input "${plan.input}"[${index}]` : `input "${plan.input}"`
        const bytes = typeof row === 'string' ? imageBytesOfString(row, label) : row
        const pixels = await decoder.decode(bytes, {label, maxPixels: plan.options.max_pixels})
        values.set(imageRow(pixels, plan), index * perRow)
      }),
    )
    const dims =
      plan.layout === 'NCHW'
        ? [rows.length, plan.channels, plan.height, plan.width]
        : [rows.length, plan.height, plan.width, plan.channels]
    return {data: castImage(values, plan.dtype), dims, dtype: plan.dtype}
  }

  private text(plan: TextPlan, rows: RawRows): TensorMap {
    const texts = rows.map((row, index) => {
      if (typeof row === 'string') return row
      try {
        return new globalThis.TextDecoder('utf-8', {fatal: true}).decode(row)
      } catch {
        throw badRequest(`input "${plan.input}"${rows.length > 1 ? `[${index}]` : ''}: the text is not UTF-8`)
      }
    })
    const encoded = this.encoders.get(plan.input)!.encode(texts, `input "${plan.input}"`)
    const dims = [encoded.rows, encoded.length]
    const feeds: TensorMap = {[plan.input]: {data: ids(encoded.inputIds, plan.dtype), dims, dtype: plan.dtype}}
    if (plan.attentionMask)
      feeds[plan.attentionMask] = {data: ids(encoded.attentionMask, plan.maskDtype), dims, dtype: plan.maskDtype}
    if (plan.tokenTypeIds)
      feeds[plan.tokenTypeIds] = {data: ids(encoded.tokenTypeIds, plan.typeIdsDtype), dims, dtype: plan.typeIdsDtype}
    return feeds
  }
}

function textSize(texts: RawInputs): number {
  let size = 0
  for (const rows of Object.values(texts)) for (const row of rows) size += row.length
  return size
}

function ids(values: number[], dtype: 'int64' | 'int32'): BigInt64Array | Int32Array {
  if (dtype === 'int32') return Int32Array.from(values)
  const out = new BigInt64Array(values.length)
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]!)
  return out
}

function castImage(values: Float32Array, dtype: ImagePlan['dtype']): HostTensor['data'] {
  switch (dtype) {
    case 'float64':
      return Float64Array.from(values)
    case 'float16':
      return toFloat16Array(values)
    case 'uint8':
      return Uint8Array.from(values, (v) => Math.min(255, Math.max(0, Math.round(v))))
    default:
      return values
  }
}

const DATA_URL = /^data:([^;,]*)((?:;[^;,]*)*?);base64,/i
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/

/** A data URL (`data:image/png;base64,...`) or bare base64 -> the encoded image's bytes. */
export function imageBytesOfString(value: string, label: string): Uint8Array {
  const match = DATA_URL.exec(value)
  const payload = match ? value.slice(match[0].length) : value
  if (!match && value.startsWith('data:'))
    throw badRequest(`${label}: a data URL must be base64 ("data:image/jpeg;base64,..."), got "${value.slice(0, 40)}"`)
  if (payload.length === 0 || !BASE64.test(payload))
    throw badRequest(
      `${label}: expected an image as a data URL ("data:image/jpeg;base64,...") or base64, got a string that is neither`,
    )
  return base64Bytes(payload)
}

/** Base64 -> bytes: Node's Buffer where there is one (fast), the platform's atob in a browser. */
function base64Bytes(payload: string): Uint8Array {
  const NodeBuffer = (globalThis as {Buffer?: typeof Buffer}).Buffer
  if (NodeBuffer) {
    const bytes = NodeBuffer.from(payload, 'base64')
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }
  const binary = atob(payload.replace(/\s+/g, ''))
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
