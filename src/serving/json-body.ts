import secureJsonParse from 'secure-json-parse'

import {badRequest} from './request-error.js'

/**
 * A request body as JSON, the way the server reads every body (on the HTTP thread or in a decode thread): objects
 * that would set a prototype (`__proto__`, `constructor.prototype`) are refused, as fastify's own parser does, and a
 * malformed body is a 400 that says where the JSON breaks.
 */
export function parseJsonBody(text: string): unknown {
  if (text.length === 0) throw badRequest('the body is empty: send a JSON object')
  try {
    return secureJsonParse.parse(text, undefined, {constructorAction: 'error', protoAction: 'error'})
  } catch (error) {
    throw badRequest(`malformed JSON: ${(error as Error).message}`)
  }
}
