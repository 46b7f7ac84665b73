import type {AuthConfig} from '../../config/schema.js'
import {routeAccess} from './route-access.js'

type JsonObject = Record<string, unknown>

const HTTP_METHODS = new Set(['delete', 'get', 'head', 'options', 'patch', 'post', 'put', 'trace'])

const SCHEMES = {
  apiKey: {
    description: 'The same API key, in the X-API-Key header.',
    in: 'header',
    name: 'X-API-Key',
    type: 'apiKey',
  },
  bearer: {
    description: 'An API key of the server (serving.auth), sent as Authorization: Bearer KEY.',
    scheme: 'bearer',
    type: 'http',
  },
}

/**
 * The OpenAPI document of a server with serving.auth on: both ways of sending a key as security schemes (Swagger UI
 * shows its Authorize button for them), and on each operation that needs a key, its requirement and the 401 (and 429
 * under a rate limit) it may answer. The open routes (probes, and docs or metrics where open) have none.
 */
export function withApiKeySecurity(
  document: JsonObject,
  auth: Pick<AuthConfig, 'docs' | 'enabled' | 'metrics' | 'rate_limit'>,
): JsonObject {
  if (!auth.enabled) return document
  const needsKey = routeAccess(auth)
  const error = {content: {'application/json': {schema: {$ref: '#/components/schemas/error'}}}}
  const paths: JsonObject = {}
  for (const [route, operations] of Object.entries((document.paths ?? {}) as Record<string, JsonObject>)) {
    // OpenAPI writes parameters {name}; fastify's patterns, which routeAccess knows, write :name.
    if (!needsKey(route.replaceAll(/\{([^}]+)\}/g, ':$1'))) {
      paths[route] = operations
      continue
    }
    paths[route] = Object.fromEntries(
      Object.entries(operations).map(([method, operation]) => {
        if (!HTTP_METHODS.has(method)) return [method, operation]
        const op = operation as JsonObject
        return [
          method,
          {
            ...op,
            responses: {
              ...(op.responses as JsonObject),
              '401': {...error, description: 'No API key, or not a valid one (WWW-Authenticate says which)'},
              ...(auth.rate_limit
                ? {
                    '429': {
                      ...error,
                      description: `Over the rate limit of this API key (${auth.rate_limit.requests_per_second} requests/s); Retry-After says when to try again`,
                    },
                  }
                : {}),
            },
            security: [{bearer: []}, {apiKey: []}],
          },
        ]
      }),
    )
  }
  const components = (document.components ?? {}) as JsonObject
  return {...document, components: {...components, securitySchemes: SCHEMES}, paths}
}
