// The generator's own ceiling: a node:http server that does no work (reads the body, answers a constant), run in a
// process of its own. A knee measured near this server's knee is the generator's (and the machine's) limit, not the
// server's. usage: node trivial-server.mjs PORT
import http from 'node:http'

const body = '{"predictions": [[0.98, 0.02, 0.0]], "model_version": "1.0.0"}'
http
  .createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(body)
    })
  })
  .listen(Number(process.argv[2] ?? 5310), '127.0.0.1')
