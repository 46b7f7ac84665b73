import {once} from 'node:events'
import net from 'node:net'
import {describe, expect, it} from 'vitest'

import {CLOSE_AT_ONCE, heldBackend, IRIS, startLocalServer} from './test-support/servers.js'

/**
 * A client that opens a POST /predict, sends its headers and then `chunk` bytes of the body every `everyMs`, forever:
 * the slow client of a slowloris attack, or a stalled upload. Collects whatever the server answers.
 */
function tricklingClient(port: number, options: {chunk?: number; everyMs?: number} = {}) {
  const socket = net.connect(port, '127.0.0.1')
  let answer = ''
  socket.setEncoding('latin1')
  socket.on('data', (data: string) => (answer += data))
  socket.on('error', () => {})
  let timer: NodeJS.Timeout | undefined
  socket.once('connect', () => {
    socket.write(
      'POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n',
    )
    timer = setInterval(() => socket.write('['.repeat(options.chunk ?? 2)), options.everyMs ?? 20)
  })
  const closed = socketClosed(socket).then(() => clearInterval(timer))
  return {
    answer: () => answer,
    closed,
    stop: () => {
      clearInterval(timer)
      socket.destroy()
    },
  }
}

/**
 * Resolves when the socket has closed, however it ended. (`events.once(socket, 'close')` rejects when 'error' comes
 * first, and a server that resets a connection it gave up on makes the client's read fail with ECONNRESET.)
 */
function socketClosed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()))
}

/** A client that writes its whole body before it reads a byte of the answer (Python's http.client, requests). */
async function sendAllThenRead(port: number, body: Buffer): Promise<{answer: string; writeError?: string}> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.pause()
  let writeError: string | undefined
  socket.on('error', (error: NodeJS.ErrnoException) => (writeError ??= error.code ?? error.message))
  const head = `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`
  await new Promise<void>((resolve) => {
    socket.write(head)
    socket.write(body, () => resolve())
    socket.once('close', () => resolve())
  })
  if (writeError) return {answer: '', writeError}
  let answer = ''
  socket.setEncoding('latin1')
  socket.on('data', (data: string) => {
    answer += data
    if (/\r\n\r\n[\s\S]*\}$/.test(answer)) socket.destroy()
  })
  socket.resume()
  await socketClosed(socket)
  return {answer, writeError}
}

interface Answer {
  status: number
  headers: string
  body: string
}

/**
 * A keep-alive HTTP/1.1 connection on a raw socket, so that the test decides when each request's bytes leave (an
 * HTTP client library would send them a turn of the event loop later). `send` resolves with the answer, or with
 * `cut` (and how) when the connection ends before the whole answer came.
 */
async function keepAliveConnection(port: number) {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let buffer = ''
  let failure: string | undefined
  const waiting: Array<(answer: Answer | {cut: string}) => void> = []
  socket.setEncoding('latin1')
  socket.on('error', (error: NodeJS.ErrnoException) => (failure ??= error.code ?? error.message))
  socket.on('data', (data: string) => {
    buffer += data
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n')
      if (end === -1) return
      const headers = buffer.slice(0, end)
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(headers)?.[1] ?? 0)
      if (buffer.length < end + 4 + length) return
      const body = buffer.slice(end + 4, end + 4 + length)
      buffer = buffer.slice(end + 4 + length)
      waiting.shift()?.({body, headers, status: Number(headers.split(' ')[1])})
    }
  })
  socket.once('close', () => {
    for (const resolve of waiting.splice(0)) resolve({cut: failure ?? 'closed before the answer'})
  })
  return {
    send(body: string): Promise<Answer | {cut: string}> {
      const answer = new Promise<Answer | {cut: string}>((resolve) => waiting.push(resolve))
      socket.write(
        `POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      )
      return answer
    },
    destroy: () => socket.destroy(),
  }
}

describe('connections the server does not let hold it', () => {
  it('answers 408 when a body trickles in slower than serving.body_timeout_ms, and keeps serving', async () => {
    const server = await startLocalServer(IRIS, {serving: {bodyTimeoutMs: 300, workers: 1}})
    const client = tricklingClient(server.port)
    try {
      await client.closed
      expect(client.answer()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
      const body = JSON.parse(client.answer().split('\r\n\r\n')[1]!) as {error: string}
      expect(body.error).toMatch(/the request did not arrive within 300 ms \(serving\.body_timeout_ms\)/)
      const health = await fetch(`${server.url}/health`)
      expect(health.status).toBe(200)
    } finally {
      client.stop()
      await server.close(CLOSE_AT_ONCE)
    }
  })

  it('closes a stalled upload when it shuts down (after a grace for uploads under way) instead of waiting for it', async () => {
    const server = await startLocalServer(IRIS, {serving: {workers: 1}})
    const client = tricklingClient(server.port)
    try {
      // The request is in: its body is what is still arriving.
      await once(server.app.server, 'request')
      await server.close({uploadGraceMs: 100})
      await client.closed
      expect(client.answer()).not.toMatch(/^HTTP\/1\.1 200/)
    } finally {
      client.stop()
    }
  })
})

describe('shutdown under load', () => {
  it('answers every request already sent, each answer closing its connection, and stops once they are done', async () => {
    // Given a server whose backend holds requests until the test lets them go
    const backend = heldBackend(3)
    const server = await startLocalServer(IRIS, {serving: {workers: 1}, wrapBackend: backend.wrapBackend})
    const body = JSON.stringify({features: [[5.1, 3.5, 1.4, 0.2]]})
    const connections = await Promise.all(Array.from({length: 6}, () => keepAliveConnection(server.port)))
    try {
      // and under load: three keep-alive connections with a request in flight, three idle after their first answer
      const [busy, idle] = [connections.slice(0, 3), connections.slice(3)]
      for (const connection of idle) expect(await connection.send(body)).toMatchObject({status: 200})
      backend.hold()
      const inFlight = busy.map((connection) => connection.send(body))
      await backend.arrived
      // When each idle connection sends its next request and, before the server has read it, shutdown begins (the
      // deadlines out of reach: only the connections closing can end it)
      const sentJustBefore = idle.map((connection) => connection.send(body))
      const closed = server.close({deadlineMs: 600_000, lingerMs: 600_000, uploadGraceMs: 600_000})
      backend.release()
      // Then no request is cut: each gets its whole answer, which closes its connection (a keep-alive client would
      // otherwise send its next request on a connection about to close)
      const answers = await Promise.all([...inFlight, ...sentJustBefore])
      expect(answers.filter((answer) => 'cut' in answer)).toEqual([])
      for (const answer of answers as Answer[]) {
        expect(answer.status).toBe(200)
        expect(JSON.parse(answer.body)).toHaveProperty('predictions')
        expect(answer.headers).toMatch(/\r\nconnection: close/i)
      }
      // and the server stops as soon as they are done, and accepts no new connection
      await closed
      await expect(fetch(`${server.url}/health`)).rejects.toThrow()
    } finally {
      for (const connection of connections) connection.destroy()
      backend.release()
      await server.close()
    }
  })
})

describe('a body over serving.body_limit_bytes', () => {
  // Far more than the socket buffers hold: the server answers long before the client has sent it all.
  const big = Buffer.alloc(24 * 1024 * 1024, 0x20)

  it('is answered 413 that fetch (undici) reads, not a reset connection', async () => {
    const server = await startLocalServer(IRIS, {serving: {bodyLimitBytes: 4096, workers: 1}})
    try {
      // With a content-length, and streamed (chunked: the server only finds out while reading).
      // Chunk by chunk, a turn of the event loop apart: the answer comes while the upload is still going on.
      const stream = () => {
        let sent = 0
        return new ReadableStream<Uint8Array>({
          async pull(controller) {
            await new Promise((resolve) => setImmediate(resolve))
            if (sent++ === 256) controller.close()
            else controller.enqueue(new Uint8Array(65_536).fill(0x20))
          },
        })
      }
      for (const body of [big, stream(), stream()]) {
        const response = await fetch(`${server.url}/predict`, {
          body,
          duplex: 'half',
          headers: {'content-type': 'application/json'},
          method: 'POST',
        })
        expect(response.status).toBe(413)
        expect(((await response.json()) as {error: string}).error).toMatch(/too large: the limit is 4096 bytes/)
      }
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })

  it('is answered 413 that a client which sends everything before it reads (Python requests) reads', async () => {
    const server = await startLocalServer(IRIS, {serving: {bodyLimitBytes: 4096, workers: 1}})
    try {
      const {answer, writeError} = await sendAllThenRead(server.port, big)
      expect(writeError).toBeUndefined()
      expect(answer).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/)
      expect(answer).toMatch(/"error":"request body too large: the limit is 4096 bytes/)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })

  it('is read and thrown away only up to a bound: a client that never stops is cut off', async () => {
    const server = await startLocalServer(IRIS, {serving: {bodyLimitBytes: 4096, workers: 1}})
    try {
      const {writeError} = await sendAllThenRead(server.port, Buffer.alloc(96 * 1024 * 1024, 0x20))
      expect(writeError).toMatch(/EPIPE|ECONNRESET/)
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
    } finally {
      await server.close(CLOSE_AT_ONCE)
    }
  })
})
