import type {FastifyPluginAsync} from 'fastify'

import type {RoutePluginOptions} from '../context.js'

/** `GET /`: what this server is and the routes it has (collected as they are registered, plugins' too). */
export const indexRoutes: FastifyPluginAsync<RoutePluginOptions & {routes: Map<string, Set<string>>}> = async (
  app,
  {context, routes},
) => {
  app.get('/', async (_request, reply) => {
    const list = [...routes]
      .flatMap(([url, methods]) => [...methods].filter((m) => m !== 'HEAD').map((method) => `${method} ${url}`))
      .sort((a, b) => a.split(' ')[1]!.localeCompare(b.split(' ')[1]!) || a.localeCompare(b))
    reply.type('application/json')
    return JSON.stringify({
      docs: '/docs',
      execution_provider: context.backend.info.executionProvider,
      model: context.modelName,
      openapi: '/openapi.json',
      ready: context.state.phase === 'ready',
      routes: list,
      version: context.modelVersion,
      workers: context.backend.info.workers,
    })
  })
}
