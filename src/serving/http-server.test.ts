import {once} from 'node:events'
import type {IncomingMessage, Server, ServerResponse} from 'node:http'
import net, {type AddressInfo} from 'node:net'

import {afterEach, describe, expect, it, vi} from 'vitest'

import {ServingHttp} from './http-server.js'

/** A ServingHttp server whose requests `answer` decides, on an ephemeral port. */
async function serve(answer: (request: IncomingMessage, response: ServerResponse) => void) {
  const http = new ServingHttp({bodyLimitBytes: 1024, bodyTimeoutMs: 10_000})
  const server = http.serverFactory(answer, {})
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {http, port: (server.address() as AddressInfo).port, server}
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  return socket
}

const post = (length: number) =>
  `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`

describe('ServingHttp: requests in flight', () => {
  let server: Server | undefined
  afterEach(() => {
    server?.closeAllConnections()
    server?.close()
  })

  it('counts a request until it is answered, while its keep-alive connection stays open', async () => {
    let respond: (() => void) | undefined
    const started = await serve((request, response) => {
      request.resume()
      request.on('end', () => (respond = () => response.end('{}')))
    })
    server = started.server
    const socket = await connect(started.port)
    for (let i = 0; i < 3; i++) {
      socket.write(post(2) + '{}')
      await vi.waitFor(() => expect(respond).toBeDefined())
      expect(started.http.inFlight).toBe(1)
      const answered = once(socket, 'data')
      respond!()
      respond = undefined
      await answered
      await vi.waitFor(() => expect(started.http.inFlight).toBe(0))
    }
    expect(socket.destroyed).toBe(false)
  })

  it('forgets a request whose client goes away before its body has arrived', async () => {
    let arrived = false
    const started = await serve(() => (arrived = true))
    server = started.server
    const socket = await connect(started.port)
    socket.write(post(100) + '{"feat')
    await vi.waitFor(() => expect(arrived).toBe(true))
    expect(started.http.inFlight).toBe(1)
    socket.destroy()
    await vi.waitFor(() => expect(started.http.inFlight).toBe(0))
    expect(started.http.closeUnfinishedRequests()).toBe(0)
  })

  it('keeps a request answered before its body has arrived until the body has, or the connection is gone', async () => {
    const started = await serve((request, response) => {
      response.writeHead(413, {'content-length': 2}).end('{}')
      started.http.discardBody(request)
    })
    server = started.server
    const socket = await connect(started.port)
    socket.write(post(10) + '12345')
    await once(socket, 'data')
    expect(started.http.inFlight).toBe(1)
    expect(started.http.closeUnfinishedRequests()).toBe(1)
    await vi.waitFor(() => expect(started.http.inFlight).toBe(0))
  })
})
