import type {Signature} from '../config/schema.js'
import type {DecodeLimits} from './decode.js'
import type {TensorMap} from './tensors.js'

/** Which contract a body follows: the seed's POST /predict, or the v2 protocol's infer. */
export type BodyKind = 'seed' | 'v2'

/** What the pool hands a decode thread when it starts it. */
export interface DecodeWorkerData {
  signature: Signature
  limits: DecodeLimits
  outputNames: string[]
  /** Where model.yaml is: its tokenizer.json files are relative to it. */
  modelDir: string
}

export type DecodeJob =
  | {
      id: number
      kind: BodyKind
      /** The raw body (UTF-8 JSON), transferred. */
      body: Uint8Array
    }
  | {
      id: number
      kind: 'preprocess'
      /**
       * Encoded images (bytes, transferred, or data URLs) and texts by input name: decoded, resized and normalised,
       * or tokenised, there.
       */
      rows: Record<string, Array<Uint8Array | string>>
    }

/** A body decoded into the tensors of the request (and, for v2, its id and the outputs asked for). */
export interface DecodedRequest {
  feeds: TensorMap
  id?: string
  outputs?: string[]
  /** The images (data URLs) and texts of a body for a model with `preprocess:` inputs, preprocessed by the caller. */
  raw?: Record<string, string[]>
}

export type DecodeReply =
  {id: number; decoded: DecodedRequest} | {id: number; error: {statusCode: number; message: string}}
