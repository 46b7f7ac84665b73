// The image's HEALTHCHECK: node is in every mlship image, curl is not. Exit 0 when /health answers 200 in time.
'use strict'
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS script run by node in the image
const http = require('node:http')

const port = Number(process.env.PORT || 8080)
const request = http.get({host: '127.0.0.1', port, path: '/health', timeout: 2500}, (response) => {
  response.resume()
  process.exit(response.statusCode === 200 ? 0 : 1)
})
request.on('timeout', () => request.destroy(new Error('timeout')))
request.on('error', () => process.exit(1))
