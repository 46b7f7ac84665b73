import type {IncomingMessage} from 'node:http'

import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
} from 'fastify'
import type {Logger} from 'pino'

import {errorMessage} from '../errors.js'
import {allowedMethods} from './allowed-methods.js'
import type {RoutePluginOptions, ServingContext} from './context.js'
import type {BodyDecoder} from './decode-pool.js'
import type {BodyKind} from './decode-protocol.js'
import {predecoded} from './decoded-body.js'
import type {ServingHttp} from './http-server.js'
import {parseJsonBody} from './json-body.js'
import {RequestError} from './request-error.js'
import {lazyChildLoggerFactory} from './request-logger.js'
import {DEFAULT_REQUEST_LOG_PER_SECOND, RequestLogSampler, SLOW_REQUEST_MS} from './request-log-sampler.js'
import {docsRoutes} from './routes/docs.js'
import {healthRoutes} from './routes/health.js'
import {indexRoutes} from './routes/index.js'
import {predictRoutes} from './routes/predict.js'
import {v2Routes} from './routes/v2.js'

export interface BuildAppOptions {
  logger?: Logger | false
  plugins?: Array<FastifyPluginAsync<RoutePluginOptions>>
  /** The HTTP server and its connection policy (timeouts, lingering close, load shedding at the door). */
  connections?: ServingHttp
  /** Inference bodies of `thresholdBytes` or more are parsed and decoded by these threads, not the event loop. */
  largeBodies?: {pool: BodyDecoder; thresholdBytes: number}
}

/** The contract of an inference route (by its pattern), whose large bodies can be decoded off the event loop. */
function bodyKind(route: string | undefined): BodyKind | undefined {
  if (route === '/predict') return 'seed'
  if (route === '/v2/models/:name/infer' || route === '/v2/models/:name/versions/:version/infer') return 'v2'
  return undefined
}

/** The x-request-id values taken as they are: up to 128 letters, digits and `._:~+=/-` (UUIDs, trace ids, base64). */
export const REQUEST_ID = /^[\w.:~+=/-]{1,128}$/

/** Where fastify would compile a route schema: the serving app has none (see buildApp), and a new one must say so. */
function noSchemaCompiler(): never {
  throw new Error(
    "a route of the serving app has a schema: fastify's schema compilers are left out of it (app.ts, image/bundle.ts)",
  )
}

/** The fastify app of the serving context, routes registered, not listening (tests can `inject`). */
export async function buildApp(context: ServingContext, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const logger = options.logger ?? false
  let sequence = 0
  const prefix = Date.now().toString(36)
  const common = {
    bodyLimit: context.settings.bodyLimitBytes,
    // One line per request is written by the onResponse hook below, not fastify's two.
    logController: new LogController({disableRequestLogging: true}),
    forceCloseConnections: 'idle' as const,
    // A caller's x-request-id is taken only when it is a short token: it ends up in every log line of the request
    // and in answers, so a long or odd one (control characters, markup) is replaced by one of ours.
    genReqId: (raw: IncomingMessage) => {
      const given = raw.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : `${prefix}-${(++sequence).toString(36)}`
    },
    requestIdHeader: false as const,
    return503OnClosing: true,
    // No route has a schema (bodies are checked against the model's signature, answers written by hand): fastify's
    // own compilers (ajv, fast-json-stringify) are never needed, so none is loaded, and the image's bundle leaves them
    // out (image/bundle.ts), some 250 KB less code for each serving process to compile at start-up (issue 19).
    schemaController: {compilersFactory: {buildSerializer: noSchemaCompiler, buildValidator: noSchemaCompiler}},
    ...(options.connections
      ? {clientErrorHandler: options.connections.clientErrorHandler, serverFactory: options.connections.serverFactory}
      : {}),
  }
  const app: FastifyInstance = logger
    ? Fastify({
        ...common,
        // Each request's logger (request.log) is made on its first line: most requests write none.
        childLoggerFactory: lazyChildLoggerFactory,
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- app's type needs the base logger
        loggerInstance: logger as FastifyBaseLogger,
      })
    : Fastify({...common, logger: false})

  // One log line per request, without its body (requests shed at the door never get here: see loadSheddingGate).
  if (logger) {
    const sampler = new RequestLogSampler({
      perSecond: context.settings.requestLogPerSecond ?? DEFAULT_REQUEST_LOG_PER_SECOND,
      summary: (notLogged, perSecond) =>
        app.log.info(
          {request_log_per_second: perSecond, requests_not_logged: notLogged},
          'requests not logged: over the budget of request lines per second (serving.request_log_per_second)',
        ),
    })
    app.addHook('onClose', (_instance, done) => {
      sampler.flush()
      done()
    })
    app.addHook('onResponse', (request, reply, done) => {
      const status = reply.statusCode
      const elapsed = reply.elapsedTime
      // Past the budget a successful, quick request is counted, not logged (errors and slow requests always are).
      if (status < 400 && elapsed < SLOW_REQUEST_MS && !sampler.admit()) {
        done()
        return
      }
      const line = {
        latency_ms: Math.round(elapsed * 1000) / 1000,
        method: request.method,
        model_version: context.modelVersion,
        route: request.routeOptions.url ?? request.url,
        status,
      }
      if (status >= 500) request.log.error(line, 'request failed')
      // A path the server does not have (a browser's /favicon.ico, a scanner) is not a refused request worth a warning.
      else if (status === 404 && request.routeOptions.url === undefined) request.log.debug(line, 'no such route')
      else if (status >= 400) request.log.warn(line, 'request refused')
      else request.log.info(line, 'request')
      done()
    })
  }

  const routes = new Map<string, Set<string>>()
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const known = routes.get(route.url) ?? new Set<string>()
    for (const m of methods) known.add(m)
    routes.set(route.url, known)
  })

  app.setErrorHandler((error: FastifyError | RequestError | Error, request, reply) => {
    if (error instanceof RequestError) {
      void reply
        .code(error.statusCode)
        .headers(error.headers)
        .type('application/json')
        .send(JSON.stringify({error: error.message}))
      return
    }
    const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500
    // fastify closes the connection after a body it refused, under a client still sending it: the kernel would reset
    // the connection and the client see EPIPE instead of the 413. The server reads the rest and throws it away instead
    // (see ServingHttp).
    if ((error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      reply.removeHeader('connection')
      options.connections?.discardBody(request.raw)
    }
    if (status < 500) {
      void reply
        .code(status)
        .type('application/json')
        .send(JSON.stringify({error: clientErrorMessage(error as FastifyError, context)}))
      return
    }
    request.log.error({err: error, reqId: request.id}, 'unexpected failure')
    void reply
      .code(500)
      .type('application/json')
      .send(JSON.stringify({error: `internal error: ${errorMessage(error).split('\n')[0]}`, request_id: request.id}))
  })

  // JSON only: anything else is 415 (fastify would otherwise take text/plain).
  app.removeContentTypeParser('text/plain')
  // One JSON parser for every body: small ones are parsed here, on the event loop; a large inference body (megabytes
  // of numbers take JSON.parse tens of milliseconds) goes to a decode thread, which hands back its tensors, so that
  // /health and the other requests never wait behind it.
  app.removeContentTypeParser('application/json')
  const {largeBodies} = options
  app.addContentTypeParser('application/json', {parseAs: 'buffer'}, (request, body: Buffer, done) => {
    const kind =
      largeBodies && body.length >= largeBodies.thresholdBytes ? bodyKind(request.routeOptions.url) : undefined
    if (kind && largeBodies) {
      largeBodies.pool.decode(kind, body).then(
        (decoded) => done(null, predecoded(decoded)),
        (error: unknown) => done(error as Error),
      )
      return
    }
    try {
      done(null, parseJsonBody(body.toString('utf8')))
    } catch (error) {
      done(error as Error)
    }
  })

  const {preprocessor} = context
  if (preprocessor && preprocessor.plan.images.length > 0) {
    // An image as the whole body (curl --data-binary @cat.jpg -H 'content-type: image/jpeg'): its bytes, held to the
    // body limit like any body; the format is read from the bytes, not from the content type.
    app.addContentTypeParser(/^image\/[\w.+-]+$/i, {parseAs: 'buffer'}, (_request, body: Buffer, done) =>
      done(null, body),
    )
  }
  if (preprocessor && preprocessor.rawInputs.length > 0) {
    // Forms with files: @fastify/multipart is loaded only by models that take images or texts.
    const {default: multipart} = await import('@fastify/multipart')
    await app.register(multipart, {limits: {fileSize: context.settings.bodyLimitBytes}})
  }

  // A known path with a method it does not take: 405 with Allow, not 404 (see allowed-methods.ts).
  const allowedOn = allowedMethods(routes)
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!
    const allow = allowedOn(path)
    if (allow !== undefined) {
      void reply
        .code(405)
        .header('allow', allow)
        .type('application/json')
        .send(JSON.stringify({error: `${request.method} is not allowed on ${path}; use ${allow}`}))
      return
    }
    void reply
      .code(404)
      .type('application/json')
      .send(JSON.stringify({error: `no route ${request.method} ${path}; GET / lists the routes`}))
  })

  const pluginOptions: RoutePluginOptions = {context}
  await app.register(indexRoutes, {...pluginOptions, routes})
  await app.register(healthRoutes, pluginOptions)
  await app.register(predictRoutes, pluginOptions)
  await app.register(v2Routes, pluginOptions)
  await app.register(docsRoutes, pluginOptions)
  for (const plugin of options.plugins ?? []) await app.register(plugin, pluginOptions)
  await app.after()
  return app
}

function clientErrorMessage(error: FastifyError, context: ServingContext): string {
  const {bodyLimitBytes} = context.settings
  const preprocessor = context.preprocessor
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body too large: the limit is ${bodyLimitBytes} bytes (serving.body_limit_bytes)`
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      if (preprocessor && preprocessor.rawInputs.length > 0) {
        const raw = preprocessor.plan.images.length > 0 && preprocessor.rawInputs.length === 1 ? ', image/*' : ''
        return `unsupported content type: send the body as application/json, multipart/form-data${raw}`
      }
      return `unsupported content type: send the body as application/json`
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'the body is empty: send a JSON object'
    default:
      if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY')
        return `malformed JSON: ${error.message}`
      return error.message
  }
}
