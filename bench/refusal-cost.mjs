// What a 503 refusal costs the server, through fastify's onRequest hook (how mlship refused before) against the raw
// HTTP request (how it refuses now: src/serving/load-shedding.ts, loadSheddingGate). Each answers every POST with the
// same 503; run it on one CPU and load it from another with wrk, and compare requests per second:
//
//   taskset -c 1 node bench/refusal-cost.mjs raw &      # or: fastify
//   taskset -c 0 wrk -t1 -c50 -d5s -s bench/post-digits.lua http://127.0.0.1:18090/predict
import http from 'node:http'

import Fastify from 'fastify'

const mode = process.argv[2] ?? 'raw'
const port = Number(process.env.PORT ?? 18090)
const body = JSON.stringify({
  error: 'the server is at capacity (expected wait 30 ms, serving.max_queue_delay_ms is 25); retry after 1 s',
})

if (mode === 'raw') {
  http
    .createServer((_request, response) => {
      response.writeHead(503, {
        'content-length': Buffer.byteLength(body),
        'content-type': 'application/json; charset=utf-8',
        'retry-after': '1',
      })
      response.end(body)
    })
    .listen(port, '127.0.0.1')
} else {
  const app = Fastify({logger: false})
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method === 'POST' && /^\/predict$|\/infer$/.test(request.routeOptions.url ?? '')) {
      void reply.code(503).headers({'retry-after': '1'}).type('application/json').send(body)
      return
    }
    done()
  })
  app.post('/predict', async () => ({}))
  await app.listen({host: '127.0.0.1', port})
}
