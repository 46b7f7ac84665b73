import http, {type IncomingMessage, type ServerResponse} from 'node:http'
import net, {type Socket} from 'node:net'

import type {FastifyServerFactory} from 'fastify'

import {InFlight, type Linked} from './in-flight.js'

/** Answers a raw HTTP request before the web framework sees it; true when it did. */
export type DoorGate = (request: IncomingMessage, response: ServerResponse) => boolean

export interface ServingHttpOptions {
  /** serving.body_timeout_ms: the whole request (headers and body) must arrive within it, else 408. */
  bodyTimeoutMs: number
  /** serving.body_limit_bytes: a body past it is answered 413 (by the framework) and then read and thrown away. */
  bodyLimitBytes: number
  /** Most bytes of a refused body read and thrown away before the connection is cut (default: 64 MiB or the limit). */
  discardLimitBytes?: number
  /** Sees every request before the framework (load shedding). */
  gate?: DoorGate
}

interface Exchange extends Linked<Exchange> {
  request: IncomingMessage
  response: ServerResponse
  socket: Socket
  answered: boolean
}

/** An open connection: how many of its exchanges are not yet forgotten, and the latest (what a 408 is about). */
interface Connection {
  current: Exchange | undefined
  inFlight: number
}

const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024
// Node's default headers timeout; a shorter body timeout bounds the headers too.
const HEADERS_TIMEOUT_MS = 60_000

/**
 * The HTTP/1.1 server under the serving app, and what it does about connections that would otherwise hold it:
 *
 * - A request (headers and body) that takes longer than serving.body_timeout_ms to arrive is answered 408 and its
 *   connection closed: a client sending its body two bytes at a time holds nothing for long.
 * - A request answered before its body has arrived (413 over the body limit, 503 load shedding at the door) keeps its
 *   connection open while the rest of the body is read and thrown away, up to a bound, as nginx's lingering close
 *   does. Closing at once would make the kernel reset the connection under the client's upload, and clients that
 *   write their whole body before they read (Python's requests) or that stream it (fetch with a stream) would see
 *   EPIPE or ECONNRESET instead of the answer.
 * - At shutdown (drain, linger), no new connection is accepted and every answer closes its connection, while requests
 *   already sent on open connections are still read and answered; requests whose body is still arriving are cut (no
 *   work has started on them), and once the drain deadline passes every connection is.
 */
export class ServingHttp {
  // A list, not a Set: see InFlight. Nor a WeakMap of each socket's latest exchange: Connection holds it.
  private readonly exchanges = new InFlight<Exchange>()
  private server: http.Server | undefined
  /** Each open connection, with its exchanges not yet forgotten (a socket that closes forgets them). */
  private readonly sockets = new Map<Socket, Connection>()
  private onAllClosed: (() => void) | undefined
  private draining = false
  /** Where a request cut for being too slow is reported; the server points it at its logger. */
  logger: {warn(fields: object, message: string): void} | undefined

  constructor(private readonly options: ServingHttpOptions) {}

  /** The server for fastify's `serverFactory` option, set up as fastify sets up its own. */
  readonly serverFactory: FastifyServerFactory = (handler, fastifyOptions) => {
    const {bodyTimeoutMs, gate} = this.options
    const server = http.createServer(
      {
        ...(fastifyOptions.http ?? {}),
        // How often node looks for requests past their timeout: the 408 comes at most this late.
        connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(bodyTimeoutMs / 4))),
        headersTimeout: Math.min(HEADERS_TIMEOUT_MS, bodyTimeoutMs),
        requestTimeout: bodyTimeoutMs,
      },
      (request, response) => {
        this.track(request, response)
        if (this.draining) response.shouldKeepAlive = false
        if (!gate?.(request, response)) handler(request, response)
        else this.discardBody(request)
      },
    )
    server.on('connection', (socket: Socket) => {
      const connection: Connection = {current: undefined, inFlight: 0}
      this.sockets.set(socket, connection)
      socket.once('close', () => {
        if (connection.inFlight > 0)
          for (const exchange of this.exchanges) if (exchange.socket === socket) this.forget(exchange)
        this.sockets.delete(socket)
        if (this.sockets.size === 0) this.onAllClosed?.()
      })
    })
    const {connectionTimeout, keepAliveTimeout, maxRequestsPerSocket} = fastifyOptions
    if (typeof keepAliveTimeout === 'number') server.keepAliveTimeout = keepAliveTimeout
    if (typeof connectionTimeout === 'number') server.setTimeout(connectionTimeout)
    if (typeof maxRequestsPerSocket === 'number' && maxRequestsPerSocket > 0)
      server.maxRequestsPerSocket = maxRequestsPerSocket
    this.server = server
    return server
  }

  /**
   * For fastify's `clientErrorHandler`: a request past serving.body_timeout_ms gets a 408 in the server's JSON form
   * unless an answer is already on its way (then the connection just closes); other malformed requests a 400.
   */
  readonly clientErrorHandler = (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return
    const exchange = this.sockets.get(socket)?.current
    const answered = exchange !== undefined && exchange.response.headersSent
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && exchange && !answered) {
      const {method, url} = exchange.request
      this.logger?.warn(
        {body_timeout_ms: this.options.bodyTimeoutMs, method, route: url?.split('?')[0], status: 408},
        'request timed out: its body did not arrive in time',
      )
    }
    if (socket.writable && !answered) {
      const [status, body] =
        error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [
              '408 Request Timeout',
              `the request did not arrive within ${this.options.bodyTimeoutMs} ms (serving.body_timeout_ms): send it faster, or raise the limit`,
            ]
          : error.code === 'HPE_HEADER_OVERFLOW'
            ? ['431 Request Header Fields Too Large', 'the request headers are too large']
            : ['400 Bad Request', 'malformed HTTP request']
      const json = JSON.stringify({error: body})
      socket.end(
        `HTTP/1.1 ${status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`,
        () => socket.destroy(),
      )
      return
    }
    socket.destroy()
  }

  /** Requests being received or answered now. */
  get inFlight(): number {
    return this.exchanges.size
  }

  /**
   * Shutdown has begun: every answer from now on, to the requests in flight too, says `Connection: close` and ends its
   * connection. Without it a keep-alive client sends its next request on the connection as soon as it has its answer,
   * and the shutdown, which closes idle connections, cuts that request under it ("other side closed").
   */
  drain(): void {
    this.draining = true
    for (const {response} of this.exchanges) if (!response.headersSent) response.shouldKeepAlive = false
    // No new connections. net's close, not http's: http's also closes at once the connections it sees as idle, and
    // under load those include connections whose next request waits, unread, in the socket's buffer (see linger).
    if (this.server?.listening) net.Server.prototype.close.call(this.server)
  }

  /**
   * Resolves once no connection is open, or after `ms`. While it waits the server still reads and answers requests on
   * the connections it has (each answer closing its connection, see drain): a connection the server sees as idle may
   * hold a request it has not read yet (under load, requests wait in the socket's buffer for the event loop), and
   * closing it at once would reset that request under its client.
   */
  async linger(ms: number): Promise<void> {
    if (this.sockets.size === 0 || ms <= 0) return
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms)
      this.onAllClosed = resolve
    })
    clearTimeout(timer)
    this.onAllClosed = undefined
  }

  /** Cuts every connection whose request is still arriving; returns how many. For shutdown: no work started on them. */
  closeUnfinishedRequests(): number {
    let closed = 0
    for (const {request} of this.exchanges) {
      if (request.complete) continue
      request.socket.destroy()
      closed++
    }
    return closed
  }

  /** Cuts every connection, busy or not (the drain deadline has passed). */
  closeAllConnections(): void {
    this.server?.closeAllConnections()
  }

  private track(request: IncomingMessage, response: ServerResponse): void {
    const exchange: Exchange = {answered: false, request, response, socket: request.socket}
    this.exchanges.add(exchange)
    const connection = this.sockets.get(exchange.socket)
    if (connection) {
      connection.inFlight++
      connection.current = exchange
    } else exchange.socket.once('close', () => this.forget(exchange)) // a request emitted on the server by hand
    // Done when both the answer and the request are: a refused body may still be arriving after its answer; a
    // connection that closes first forgets it (see serverFactory). Each event comes once: `on`, not `once`, and no
    // listener added to and taken off the socket for every request (this runs for each of thousands a second).
    const settle = () => {
      if (exchange.answered && request.complete) this.forget(exchange)
    }
    response.on('close', () => {
      exchange.answered = true
      settle()
    })
    request.on('end', settle)
  }

  private forget(exchange: Exchange): void {
    if (!this.exchanges.delete(exchange)) return
    const connection = this.sockets.get(exchange.socket)
    if (!connection) return
    connection.inFlight--
    if (connection.current === exchange) connection.current = undefined
  }

  /**
   * For a request answered before its body has arrived (call it before or as the answer is sent): reads the rest of
   * the body and throws it away, up to a bound (see the class comment). Node would otherwise drop it unread without
   * a bound, or the framework close the connection under the client.
   */
  discardBody(request: IncomingMessage): void {
    if (request.complete) return
    const limit = this.options.discardLimitBytes ?? Math.max(DISCARD_LIMIT_BYTES, this.options.bodyLimitBytes)
    let discarded = 0
    request.on('data', (chunk: Buffer) => {
      discarded += chunk.length
      if (discarded > limit) request.socket.destroy()
    })
    request.resume()
  }
}
