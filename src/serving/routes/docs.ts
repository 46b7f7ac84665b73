import type {FastifyPluginAsync} from 'fastify'
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import type {RoutePluginOptions, ServingContext} from '../context.js'

/** The files of Swagger UI the page needs, served by the app itself: /docs works offline, nothing from a CDN. */
const ASSETS: Record<string, string> = {
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
}

/**
 * Where Swagger UI's files are: MLSHIP_DOCS_ASSETS, else a `swagger-ui/` folder beside this module (the bundled
 * server in an image), else the installed @fastify/swagger-ui package.
 */
export function docsAssetsDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.MLSHIP_DOCS_ASSETS) return env.MLSHIP_DOCS_ASSETS
  const beside = fileURLToPath(new URL('./swagger-ui/', import.meta.url))
  if (existsSync(path.join(beside, 'swagger-ui-bundle.js'))) return beside
  try {
    const pkg = createRequire(import.meta.url).resolve('@fastify/swagger-ui/package.json')
    return path.join(path.dirname(pkg), 'static')
  } catch {
    return undefined
  }
}

/** The OpenAPI document of a server, as /openapi.json answers it. */
export async function openApiJson(context: ServingContext): Promise<string> {
  const {openApiDocument} = await import('../openapi.js')
  return JSON.stringify(
    openApiDocument({
      auth: context.project.config.serving.auth,
      description: context.project.config.description,
      maxBatchSize: context.settings.maxBatchSize,
      name: context.modelName,
      signature: context.signature,
      version: context.modelVersion,
    }),
  )
}

export const docsRoutes: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
  // Made by the first request that asks for it, and kept: neither the first prediction nor readiness needs it, and
  // every process of a cluster would otherwise build it (and load its module) as it starts (issue 19).
  let document: Promise<string> | undefined
  app.get('/openapi.json', async (_request, reply) => {
    document ??= openApiJson(context)
    reply.type('application/json')
    return document
  })

  const dir = docsAssetsDir()
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(context.modelName)} ${escapeHtml(context.modelVersion)} - API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null, tryItOutEnabled: true})
</script>
</body>
</html>
`
  app.get('/docs', (_request, reply) => {
    if (!dir) {
      reply
        .code(503)
        .type('application/json')
        .send(
          JSON.stringify({
            error:
              'the API page is not available: Swagger UI files are missing (set MLSHIP_DOCS_ASSETS); /openapi.json works',
          }),
        )
      return
    }
    reply.type('text/html; charset=utf-8').send(page)
  })

  const cache = new Map<string, Buffer>()
  for (const [file, type] of Object.entries(ASSETS)) {
    app.get(`/docs/${file}`, async (_request, reply) => {
      if (!dir)
        return reply
          .code(404)
          .type('application/json')
          .send(JSON.stringify({error: `${file} is not available`}))
      let content = cache.get(file)
      if (!content) {
        content = await readFile(path.join(dir, file))
        cache.set(file, content)
      }
      return reply.type(type).header('cache-control', 'public, max-age=86400').send(content)
    })
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
