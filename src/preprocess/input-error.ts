/**
 * A client's input that preprocessing refuses: not an image, too many pixels, text too long. It carries the HTTP
 * status the server answers with (400, 413 or 415); the serving layer turns it into its RequestError, the CLI into a
 * usage error.
 */
export class InputError extends Error {
  constructor(
    readonly statusCode: 400 | 413 | 415,
    message: string,
  ) {
    super(message)
    this.name = 'InputError'
  }
}
