import type {FastifyPluginAsync} from 'fastify'

import type {RoutePluginOptions} from '../context.js'

/** Liveness and readiness, in the seed's words and in the v2 protocol's. */
export const healthRoutes: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
  const healthy = JSON.stringify({status: 'healthy', version: context.modelVersion})

  // Liveness: the process answers. Never touches a worker, so it answers while every worker is busy.
  app.get('/health', (_request, reply) => {
    reply.type('application/json').send(healthy)
  })
  app.get('/v2/health/live', (_request, reply) => {
    reply.type('application/json').send('{"live":true}')
  })

  // Readiness: the model is loaded and warmed up, and the server is not shutting down.
  app.get('/ready', (_request, reply) => {
    const {phase} = context.state
    if (phase === 'ready') return reply.type('application/json').send('{"status":"ready"}')
    return reply
      .code(503)
      .type('application/json')
      .send(JSON.stringify({status: phase === 'starting' ? 'loading' : 'shutting down'}))
  })
  app.get('/v2/health/ready', (_request, reply) => {
    const ready = context.state.phase === 'ready'
    return reply
      .code(ready ? 200 : 503)
      .type('application/json')
      .send(JSON.stringify({ready}))
  })
}
