import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {closedLoop, okAndFailed} from './closed-loop.js'

describe('closedLoop', () => {
  let server: Server
  let url: string
  const received: string[] = []
  beforeAll(async () => {
    // Answers 200 to the body "ok", 400 to anything else, and remembers each body with its content type.
    server = createServer((request, response) => {
      let body = ''
      request.on('data', (chunk: Buffer) => (body += chunk.toString()))
      request.on('end', () => {
        received.push(`${request.headers['content-type']} ${body}`)
        response.writeHead(body === 'ok' ? 200 : 400).end('{}')
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`
  })
  afterAll(() => new Promise((resolve) => server.close(resolve)))

  it('starts one request per client, each client at its own body, and counts the answers by status', async () => {
    // A deadline already past: every client sends its first body and no other.
    const {statuses} = await closedLoop({
      bodies: ['ok', 'bad', 'ok'],
      clients: 3,
      contentType: 'application/json',
      until: Date.now() - 1,
      url,
    })
    expect(Object.fromEntries(statuses)).toEqual({200: 2, 400: 1})
    expect(okAndFailed(statuses)).toEqual({failed: 1, ok: 2})
    expect(received.toSorted()).toEqual(['application/json bad', 'application/json ok', 'application/json ok'])
  })

  it('counts a request that gets no answer under status 0', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const {statuses} = await closedLoop({
      bodies: [new Uint8Array([1, 2])],
      clients: 1,
      contentType: 'application/octet-stream',
      until: Date.now() - 1,
      url: `http://127.0.0.1:${port}/predict`,
    })
    expect(Object.fromEntries(statuses)).toEqual({0: 1})
  })
})
