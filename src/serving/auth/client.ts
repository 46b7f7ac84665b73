import {ExitCode, MlshipError} from '../../errors.js'

/** The header that carries a key to an mlship server (serving.auth), or none without a key. */
export function apiKeyHeaders(key: string | undefined): Record<string, string> {
  return key ? {authorization: `Bearer ${key}`} : {}
}

/**
 * What a client says when the server refused it for its key (401) or its key's rate (429); undefined for any other
 * answer. Exit 6, like any other authentication error. The key itself is never in the message.
 */
export function keyRefusal(answer: {
  status: number
  url: string
  sentKey: boolean
  retryAfter?: string | null
}): MlshipError | undefined {
  const howToSend = [
    'Set MLSHIP_API_KEY to a key of the server, or pipe one in with --api-key-stdin (echo "$KEY" | mlship ... --api-key-stdin).',
  ]
  if (answer.status === 401) {
    return answer.sentKey
      ? new MlshipError(`${answer.url} refused the API key (401): it is not one of the server's keys`, {
          code: 'API_KEY_REFUSED',
          details: {status: 401, url: answer.url},
          exitCode: ExitCode.registry,
          suggestions: ['Check the key (MLSHIP_API_KEY or --api-key-stdin): was it rotated out of the server?'],
        })
      : new MlshipError(`${answer.url} needs an API key (401): the server has serving.auth on`, {
          code: 'API_KEY_MISSING',
          details: {status: 401, url: answer.url},
          exitCode: ExitCode.registry,
          suggestions: howToSend,
        })
  }
  if (answer.status === 429) {
    const after = answer.retryAfter ? `: retry after ${answer.retryAfter} s` : ''
    return new MlshipError(`${answer.url} refused the request: over the rate limit of this API key (429)${after}`, {
      code: 'API_KEY_RATE_LIMITED',
      details: {retryAfter: answer.retryAfter ?? null, status: 429, url: answer.url},
      exitCode: ExitCode.registry,
      suggestions: ['Send fewer requests with this key, or ask for a higher serving.auth.rate_limit.'],
    })
  }
  return undefined
}
