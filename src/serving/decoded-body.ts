import type {DecodedRequest} from './decode-protocol.js'

const DECODED = Symbol('mlship.decoded')

/** A request body a decode thread has already turned into tensors (see DecodePool), as `request.body`. */
export type PredecodedBody = DecodedRequest & {readonly [DECODED]: true}

export function predecoded(decoded: DecodedRequest): PredecodedBody {
  return {...decoded, [DECODED]: true}
}

export function isPredecoded(body: unknown): body is PredecodedBody {
  return typeof body === 'object' && body !== null && DECODED in body
}
