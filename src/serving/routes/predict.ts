import type {FastifyPluginAsync} from 'fastify'

import type {RoutePluginOptions} from '../context.js'
import {decodeSeedBody} from '../decode.js'
import {isPredecoded} from '../decoded-body.js'
import {seedResponseJson} from '../responses.js'

/** `POST /predict`: the seed contract, kept exactly for teaching labs. */
export const predictRoutes: FastifyPluginAsync<RoutePluginOptions> = async (app, {context}) => {
  const {backend, limits, modelVersion, signature} = context
  app.post('/predict', async (request, reply) => {
    const start = performance.now()
    const {body} = request
    const feeds = isPredecoded(body) ? body.feeds : decodeSeedBody(body, signature, limits)
    const outputs = await backend.run(feeds)
    reply.type('application/json')
    return seedResponseJson(outputs, signature, modelVersion, performance.now() - start)
  })
}
