import type {AuthConfig} from '../../config/schema.js'

/** Probes: always open, or a cluster would restart (or never route to) a server whose keys it does not hold. */
const PROBE_ROUTES = new Set([
  '/health',
  '/ready',
  '/v2/health/live',
  '/v2/health/ready',
  '/v2/models/:name/ready',
  '/v2/models/:name/versions/:version/ready',
])

/** What describes the API: the page, its document, the route list and the v2 metadata (serving.auth.docs). */
const DOCS_ROUTES = new Set([
  '/',
  '/docs',
  '/openapi.json',
  '/v2',
  '/v2/models/:name',
  '/v2/models/:name/versions/:version',
])

const METRICS_ROUTES = new Set(['/metrics'])

/**
 * Whether a route (by its pattern, as fastify names it) needs a key. Open routes are listed; every other route needs
 * one, so a route added later (feedback, a plugin's) is protected until someone decides otherwise. A path no route
 * matches (404) needs none: it reveals nothing.
 */
export function routeAccess(auth: Pick<AuthConfig, 'docs' | 'metrics'>): (route: string | undefined) => boolean {
  const open = new Set(PROBE_ROUTES)
  if (auth.docs === 'open') for (const route of DOCS_ROUTES) open.add(route)
  if (auth.metrics === 'open') for (const route of METRICS_ROUTES) open.add(route)
  const docsOpen = auth.docs === 'open'
  return (route) => {
    if (route === undefined || open.has(route)) return false
    // The page's own files (Swagger UI's script and style) go with the page.
    return !(docsOpen && route.startsWith('/docs/'))
  }
}
