import type {ServerResponse} from 'node:http'

import Fastify, {type FastifyInstance, type FastifyReply} from 'fastify'

import {ExitCode, isMlshipError, MlshipError} from '../../errors.js'
import {renderHtmlReport} from '../report-html.js'
import {API, type WireEvent} from './client/wire.js'
import {buildPageAssets, renderPage} from './page.js'
import type {BenchUiSession, SessionEvent, Snapshot} from './session.js'

export interface UiServerOptions {
  session: BenchUiSession
  /** 127.0.0.1 unless a test says otherwise: the page drives load at a server, so it is never on the network. */
  host?: string
  /** 0: a free port. */
  port: number
  now?: () => Date
}

export interface UiServer {
  /** The page's address, for the terminal and the browser. */
  url: string
  /** Ends every event stream and closes the server. */
  close(): Promise<void>
}

// The session's types are the wire's: a change to either that breaks the page fails the type check here.
const toWire = (event: SessionEvent | Snapshot): WireEvent => event

/**
 * The page of `bench --ui` and its one event stream (Server-Sent Events: a window a second, the gauges, state changes,
 * markers, sweep steps), plus the controls as small JSON POSTs. Bound to 127.0.0.1; requests that name another host
 * (DNS rebinding) or come from another origin (a web page posting to localhost) are refused, as are controls not
 * sent as JSON (a cross-site form cannot send them without a CORS preflight, which this server never answers).
 */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const {session} = options
  const assets = await buildPageAssets()
  const streams = new Set<ServerResponse>()
  const app: FastifyInstance = Fastify({forceCloseConnections: true, logger: false})
  let origin = ''

  app.addHook('onRequest', async (request, reply) => {
    const host = request.headers.host ?? ''
    const allowed = [origin.replace('http://', ''), origin.replace('http://127.0.0.1', 'localhost')]
    if (!allowed.includes(host)) return reply.code(403).send({error: `Host ${host} is not this page's`})
    const from = request.headers.origin
    if (from !== undefined && from !== `http://${host}`)
      return reply.code(403).send({error: `requests from ${from} are not accepted`})
    if (request.method === 'POST' && !request.headers['content-type']?.startsWith('application/json'))
      return reply.code(415).send({error: 'controls take a JSON body (content-type: application/json)'})
    return undefined
  })

  app.setErrorHandler((error, _request, reply) => {
    if (isMlshipError(error)) {
      const conflict = error.code === 'BENCH_UI_SWEEPING' || error.code === 'BENCH_UI_STOPPED'
      return reply.code(conflict ? 409 : 400).send({code: error.code, error: error.message})
    }
    const status = (error as {statusCode?: number}).statusCode ?? 500
    return reply.code(status).send({error: (error as Error).message})
  })

  const page = renderPage({title: 'mlship bench: live'})
  app.get('/', (_request, reply) => reply.type('text/html; charset=utf-8').send(page))
  app.get('/app.js', (_request, reply) => reply.type('text/javascript; charset=utf-8').send(assets.script))
  app.get('/app.css', (_request, reply) => reply.type('text/css; charset=utf-8').send(assets.css))
  app.get(API.snapshot, () => session.snapshot())

  app.get(API.events, (request, reply) => {
    reply.hijack()
    const stream = reply.raw
    stream.writeHead(200, {
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'content-type': 'text/event-stream; charset=utf-8',
    })
    const send = (event: WireEvent) => stream.write(`data: ${JSON.stringify(event)}\n\n`)
    // A reconnecting EventSource waits this long; the page is local, so a second is plenty.
    stream.write('retry: 1000\n\n')
    send(toWire(session.snapshot()))
    const unsubscribe = session.subscribe((event) => send(toWire(event)))
    const keepAlive = setInterval(() => stream.write(': keep-alive\n\n'), 15_000)
    streams.add(stream)
    request.raw.on('close', () => {
      unsubscribe()
      clearInterval(keepAlive)
      streams.delete(stream)
    })
  })

  app.post<{Body: {rate?: unknown}}>(API.rate, (request) => {
    const rate = request.body.rate
    if (typeof rate !== 'number') throw usage('rate: give a number of requests per second, as {"rate": 200}')
    return session.setRate(rate)
  })
  app.post<{Body: {device?: unknown}}>(API.device, (request) => {
    const device = request.body.device
    if (device !== 'cpu' && device !== 'gpu') throw usage('device: "cpu" or "gpu"')
    return session.setDevice(device)
  })
  app.post(API.findKnee, () => session.findKnee())
  app.get(API.report, (_request, reply: FastifyReply) => {
    const now = options.now?.() ?? new Date()
    const name = `mlship-bench-${now
      .toISOString()
      .replaceAll(':', '-')
      .replace(/\.\d+Z$/, 'Z')}.html`
    return reply
      .type('text/html; charset=utf-8')
      .header('content-disposition', `attachment; filename="${name}"`)
      .send(renderHtmlReport(session.result(), now))
  })

  const address = await app.listen({host: options.host ?? '127.0.0.1', port: options.port})
  origin = address.replace('[::1]', 'localhost')
  return {
    close: async () => {
      for (const stream of streams) {
        stream.write(`data: ${JSON.stringify({type: 'bye'} satisfies WireEvent)}\n\n`)
        stream.end()
      }
      await app.close()
    },
    url: `${origin}/`,
  }
}

function usage(message: string): MlshipError {
  return new MlshipError(message, {code: 'BENCH_UI_USAGE', exitCode: ExitCode.usage})
}
