/**
 * A request the server refuses, with the HTTP status and a message for the caller: what is wrong, where (the input
 * name, the element), expected vs got. Thrown by the pure request decoders and turned into `{"error": ...}` by the
 * server's error handler.
 */
export class RequestError extends Error {
  readonly statusCode: number
  readonly headers: Record<string, string>

  constructor(statusCode: number, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'RequestError'
    this.statusCode = statusCode
    this.headers = headers
  }
}

export function badRequest(message: string): RequestError {
  return new RequestError(400, message)
}
