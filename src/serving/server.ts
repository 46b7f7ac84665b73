import type {IncomingMessage} from 'node:http'

import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
} from 'fastify'
import pino, {type Logger} from 'pino'

import {errorMessage, ExitCode, MlshipError} from '../errors.js'
import type {ResolvedModel} from '../model/load-model.js'
import {planPreprocessing} from '../preprocess/plan.js'
import type {InferenceBackend} from './backend.js'
import type {RoutePluginOptions, ServerPhase, ServingContext} from './context.js'
import {servingAuth, type ServingAuthOptions} from './auth/plugin.js'
import type {Device} from './device.js'
import {usableCpus} from './cpus.js'
import {type ExperimentRuntime, startExperiment} from './experiment/runtime.js'
import {RequestError} from './request-error.js'
import {docsRoutes} from './routes/docs.js'
import {type BodyDecoder, DecodePool} from './decode-pool.js'
import type {BodyKind} from './decode-protocol.js'
import {predecoded} from './decoded-body.js'
import {ServingHttp} from './http-server.js'
import {parseJsonBody} from './json-body.js'
import {openModel} from './open-model.js'
import {InputPreprocessor} from './preprocessing.js'
import {loadSheddingGate} from './load-shedding.js'
import {metricsPlugin} from './metrics-plugin.js'
import {healthRoutes} from './routes/health.js'
import {indexRoutes} from './routes/index.js'
import {predictRoutes} from './routes/predict.js'
import {v2Routes} from './routes/v2.js'
import {InferencePipeline, type InferencePipelineOptions} from './inference-pipeline.js'
import type {ServingOverrides} from './settings.js'
import type {TensorMap} from './tensors.js'
import {warmUpFeeds} from './warm-up.js'
import type {WorkerPoolOptions} from './worker-pool.js'

export interface StartServerOptions {
  /** The model directory, or the path of its model.yaml. Ignored when `project` is given. */
  dir?: string
  /** An already loaded model project (saves loading it twice). */
  project?: ResolvedModel
  /** Defaults to model.yaml's serving.host / serving.port; port 0 picks a free port. */
  host?: string
  port?: number
  /** Overrides of model.yaml's serving settings. */
  serving?: ServingOverrides
  /** cpu or cuda; defaults to MLSHIP_DEVICE, then build.gpu of model.yaml. */
  device?: Device
  /** A pino logger, or false for none. Default: JSON lines on stdout at LOG_LEVEL / serving.log_level. */
  logger?: Logger | false
  /** Where the default logger writes (stderr when stdout carries a command's --json output). Default stdout. */
  logTo?: 'stdout' | 'stderr'
  /** Environment to read LOG_LEVEL and MLSHIP_DEVICE from (default process.env). */
  env?: NodeJS.ProcessEnv
  /**
   * Wraps the inference backend (batching, admission control, deadlines, cache, metrics): the routes only ever see
   * what this returns.
   */
  wrapBackend?: (
    backend: InferenceBackend,
    context: Omit<ServingContext, 'backend'>,
  ) => InferenceBackend | Promise<InferenceBackend>
  /** More route plugins (e.g. /metrics), registered after the built-in routes with the same `context` option. */
  plugins?: Array<FastifyPluginAsync<RoutePluginOptions>>
  /** Told when an inference worker dies (it is replaced at once); by default logged as an error. */
  onWorkerExit?: WorkerPoolOptions['onWorkerExit']
  /** Use this backend instead of starting a worker pool (tests of wrappers). */
  backend?: InferenceBackend
  /**
   * Serving at scale (inference-pipeline.ts): dynamic batching, the bounded queue and deadlines, the prediction cache,
   * model monitoring and GET /metrics, configured by model.yaml. On by default; false serves the bare backend.
   */
  pipeline?: InferencePipelineOptions | false
  /**
   * Inference bodies of `thresholdBytes` (default 256 KiB) or more are parsed and decoded by `threads` decode threads
   * (default: half the CPUs, at most 2), off the event loop; false parses every body on the event loop (benchmarks
   * compare the two).
   */
  largeBodies?: {thresholdBytes?: number; threads?: number; wrap?: (decoder: BodyDecoder) => BodyDecoder} | false
  /** serving.auth: keys minted in this process (accepted besides the configured ones), its clocks in tests. */
  auth?: Omit<ServingAuthOptions, 'env' | 'registry'>
}

const LARGE_BODY_BYTES = 256 * 1024

export interface RunningServer {
  /** http://host:port of the listening server. */
  url: string
  /** The interface it listens on (0.0.0.0 for every one). */
  host: string
  port: number
  app: FastifyInstance
  context: ServingContext
  /** The inference pipeline (metrics, batcher, cache), unless started with `pipeline: false`. */
  pipeline?: InferencePipeline
  /**
   * Graceful: readiness turns 503 at once, no new connections, and every answer closes its connection; for `lingerMs`
   * (default 1 s, less once no connection is open) requests already on their way are still read and answered; then
   * idle connections close, requests in flight finish, and workers stop. A request whose body is still
   * arriving gets `uploadGraceMs` (default 2 s) to finish arriving, then its connection is cut; connections still
   * open `deadlineMs` after the call (default 8 s) are cut too.
   */
  close(options?: {deadlineMs?: number; lingerMs?: number; uploadGraceMs?: number}): Promise<void>
}

/** Loads the model, starts the inference workers, warms up, and listens. */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const pipeline = options.pipeline === false ? undefined : new InferencePipeline(options.pipeline)
  // The logger needs the settings of the context, and the workers report to the logger: bound once both exist.
  // eslint-disable-next-line prefer-const -- a worker can exit before the assignment below; const would throw there
  let logger: Logger | false | undefined
  const onWorkerExit: WorkerPoolOptions['onWorkerExit'] = (info) =>
    logger &&
    logger.error(
      {worker: info},
      `inference worker ${info.worker} stopped (exit code ${info.exitCode}); its requests failed and it is being replaced`,
    )
  const context = await createServingContext({
    ...(pipeline ? {...options, wrapBackend: withPipeline(pipeline, options.wrapBackend)} : options),
    onWorkerExit: options.onWorkerExit ?? onWorkerExit,
  })
  // model.yaml's experiment: the other variants start beside this model, and a router picks who answers.
  let experiment: ExperimentRuntime | undefined
  if (context.project.config.experiment) {
    const env = options.env ?? process.env
    try {
      experiment = await startExperiment({
        context,
        env,
        onWorkerExit: options.onWorkerExit ?? onWorkerExit,
        pipeline,
      })
    } catch (error) {
      await context.backend.close()
      throw error
    }
    context.router = experiment.router
  }
  logger =
    options.logger === undefined
      ? createLogger(context.settings.logLevel, options.logTo === 'stderr' ? 2 : 1)
      : options.logger
  const gate = pipeline
    ? loadSheddingGate(pipeline, {httpMetrics: context.project.config.monitoring.metrics})
    : undefined
  const connections = new ServingHttp({
    bodyLimitBytes: context.settings.bodyLimitBytes,
    bodyTimeoutMs: context.settings.bodyTimeoutMs,
    ...(gate ? {gate} : {}),
  })
  let app: FastifyInstance
  let decodePool: BodyDecoder | undefined
  try {
    const large = options.largeBodies === false ? undefined : (options.largeBodies ?? {})
    if (large) {
      const pool = await DecodePool.start({
        limits: context.limits,
        outputNames: context.outputNames,
        signature: context.signature,
        threads: large.threads ?? Math.max(1, Math.min(2, Math.floor(usableCpus() / 2))),
      })
      decodePool = large.wrap ? large.wrap(pool) : pool
      const {preprocessor} = context
      if (preprocessor && preprocessor.plan.images.length > 0 && decodePool.preprocessImages) {
        const threads = decodePool
        preprocessor.useImageThreads((rows) => threads.preprocessImages!(rows))
      }
    }
    app = await buildApp(context, {
      connections,
      ...(decodePool
        ? {largeBodies: {pool: decodePool, thresholdBytes: large?.thresholdBytes ?? LARGE_BODY_BYTES}}
        : {}),
      logger,
      plugins: [
        ...(pipeline ? [metricsPlugin(pipeline)] : []),
        servingAuth({...options.auth, env: options.env, registry: pipeline?.metrics.registry}),
        ...(experiment ? [experiment.plugin] : []),
        ...(options.plugins ?? []),
      ],
    })
  } catch (error) {
    await decodePool?.close()
    await context.backend.close()
    await experiment?.close()
    throw error
  }
  if (logger) connections.logger = logger
  const config = context.project.config
  const host = options.host ?? config.serving.host
  const port = options.port ?? config.serving.port
  try {
    await app.listen({host, port})
  } catch (error) {
    await app.close()
    await decodePool?.close()
    await context.backend.close()
    await experiment?.close()
    throw listenError(error, host, port)
  }
  await Promise.all([warmUp(context, logger || undefined), experiment?.warmUp()])
  context.state.phase = 'ready'

  const address = app.server.address()
  const actualPort = typeof address === 'object' && address ? address.port : port
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  let closing: Promise<void> | undefined
  return {
    app,
    close: (closeOptions = {}) => {
      closing ??= (async () => {
        context.state.phase = 'draining'
        connections.drain()
        // Keep-alive connections that finish their request while draining would hold the server open: every answer
        // from now on closes its connection (drain), and connections idle since before are closed once the server
        // has lingered a moment, time to read a request that was already on its way (closing them at once reset
        // such requests under load). A request whose body is still arriving has no work started: after a short
        // grace (an upload under way finishes) it is cut, or a client sending a byte now and then would hold the
        // shutdown for as long as it likes.
        let lingerOver = false
        let graceOver = false
        const sweepOnce = () => {
          if (lingerOver) app.server.closeIdleConnections()
          if (graceOver) connections.closeUnfinishedRequests()
        }
        const sweep = setInterval(sweepOnce, 50)
        const grace = setTimeout(() => {
          graceOver = true
          sweepOnce()
        }, closeOptions.uploadGraceMs ?? 2000)
        const deadline = setTimeout(() => connections.closeAllConnections(), closeOptions.deadlineMs ?? 8000)
        await connections.linger(closeOptions.lingerMs ?? 1000)
        lingerOver = true
        sweepOnce()
        try {
          await app.close()
        } finally {
          clearInterval(sweep)
          clearTimeout(grace)
          clearTimeout(deadline)
        }
        await decodePool?.close()
        await context.backend.close()
        await experiment?.close()
        gate?.flush()
      })()
      return closing
    },
    context,
    host,
    pipeline,
    port: actualPort,
    url: `http://${urlHost}:${actualPort}`,
  }
}

/** The inference pipeline wraps the worker pool first; a caller's own wrapper goes around it. */
function withPipeline(
  pipeline: InferencePipeline,
  outer: StartServerOptions['wrapBackend'],
): NonNullable<StartServerOptions['wrapBackend']> {
  return async (backend, context) => {
    const wrapped = await pipeline.wrapBackend(backend, context)
    return outer ? outer(wrapped, context) : wrapped
  }
}

/** The model, its settings and a running backend: what buildApp needs. The phase stays 'starting' until warm-up. */
export async function createServingContext(options: StartServerOptions): Promise<ServingContext> {
  const {
    backend: started,
    project,
    settings,
  } = await openModel({
    backend: options.backend,
    device: options.device,
    dir: options.dir,
    env: options.env,
    onWorkerExit: options.onWorkerExit,
    project: options.project,
    runIn: 'workers',
    serving: options.serving,
  })
  // Workers this call started would keep the process alive after a start-up failure.
  const stopStarted = async () => {
    if (started !== options.backend) await started.close()
  }
  const limits = {maxBatchSize: settings.maxBatchSize}
  let preprocessor: InputPreprocessor | undefined
  try {
    const plan = planPreprocessing(project.signature, project.file)
    preprocessor = plan ? await InputPreprocessor.create(plan, {limits, modelDir: project.dir}) : undefined
  } catch (error) {
    await stopStarted()
    throw error
  }
  const base = {
    limits,
    modelName: project.config.name,
    modelVersion: project.config.version,
    outputNames: project.signature.outputs.map((o) => o.name),
    project,
    settings,
    ...(preprocessor ? {preprocessor} : {}),
    signature: project.signature,
    // One state object for the whole life of the server: wrappers of the backend read the phase too.
    state: {phase: 'starting' as ServerPhase},
  }
  let backend = started
  if (options.wrapBackend) {
    const inner = backend
    try {
      backend = await options.wrapBackend(inner, base)
    } catch (error) {
      // The workers would keep the process alive after a start-up failure (an unwritable prediction log).
      await inner.close()
      throw error
    }
  }
  return {...base, backend}
}

/**
 * JSON lines on stdout (or `fd`). Written asynchronously: lines that come while a write is under way go out together
 * in one write, so a busy server makes a few syscalls instead of one per request; pino flushes what is left at exit.
 */
export function createLogger(level: string, fd: 1 | 2 = 1): Logger {
  return pino(
    {base: undefined, level, timestamp: pino.stdTimeFunctions.isoTime},
    pino.destination({dest: fd, sync: false}),
  )
}

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

const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const

/** The x-request-id values taken as they are: up to 128 letters, digits and `._:~+=/-` (UUIDs, trace ids, base64). */
export const REQUEST_ID = /^[\w.:~+=/-]{1,128}$/

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
    ...(options.connections
      ? {clientErrorHandler: options.connections.clientErrorHandler, serverFactory: options.connections.serverFactory}
      : {}),
  }
  const app: FastifyInstance = logger
    ? // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- app's type needs the base logger
      Fastify({...common, loggerInstance: logger as FastifyBaseLogger})
    : Fastify({...common, logger: false})

  // One log line per request, without its body (requests shed at the door never get here: see loadSheddingGate).
  if (logger) {
    app.addHook('onResponse', (request, reply, done) => {
      const status = reply.statusCode
      const line = {
        latency_ms: Math.round(reply.elapsedTime * 1000) / 1000,
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
  let collecting = true
  app.addHook('onRoute', (route) => {
    if (!collecting) return
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

  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .type('application/json')
      .send(JSON.stringify({error: `no route ${request.method} ${request.url.split('?')[0]}; GET / lists the routes`}))
  })

  const pluginOptions: RoutePluginOptions = {context}
  await app.register(indexRoutes, {...pluginOptions, routes})
  await app.register(healthRoutes, pluginOptions)
  await app.register(predictRoutes, pluginOptions)
  await app.register(v2Routes, pluginOptions)
  await app.register(docsRoutes, pluginOptions)
  for (const plugin of options.plugins ?? []) await app.register(plugin, pluginOptions)
  await app.after()
  // The routes the app serves are known now; the 405 answers below are not listed on GET /.
  collecting = false

  // A known path with a method it does not take: 405 with Allow, not 404.
  for (const [url, methods] of [...routes]) {
    const others = METHODS.filter((m) => !methods.has(m))
    if (others.length === 0) continue
    const allow = [...methods].sort().join(', ')
    app.route({
      handler: (request, reply) => {
        void reply
          .code(405)
          .header('allow', allow)
          .type('application/json')
          .send(JSON.stringify({error: `${request.method} is not allowed on ${url}; use ${allow}`}))
      },
      method: others,
      url,
    })
  }
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

function listenError(error: unknown, host: string, port: number): MlshipError {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'EADDRINUSE') {
    return new MlshipError(`port ${port} on ${host} is already in use`, {
      cause: error,
      code: 'PORT_IN_USE',
      details: {host, port},
      exitCode: ExitCode.usage,
      suggestions: [
        `Stop what listens on port ${port}, or pick another port with --port (or serving.port in model.yaml).`,
      ],
    })
  }
  if (code === 'EACCES') {
    return new MlshipError(`not allowed to listen on ${host}:${port}`, {
      cause: error,
      code: 'PORT_DENIED',
      exitCode: ExitCode.usage,
      suggestions: ['Ports below 1024 need privileges: pick a port above 1024 with --port.'],
    })
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new MlshipError(`cannot listen on ${host}: no such address on this machine`, {
      cause: error,
      code: 'HOST_INVALID',
      exitCode: ExitCode.usage,
      suggestions: ['Use --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface).'],
    })
  }
  return new MlshipError(`cannot listen on ${host}:${port}: ${errorMessage(error)}`, {
    cause: error,
    code: 'LISTEN_FAILED',
  })
}

/**
 * One inference per worker before the server says it is ready, so the first real request does not pay for lazy
 * initialisation. Uses the model.yaml examples when every input has one, else zeros of the smallest valid shape.
 */
async function warmUp(context: ServingContext, logger: Logger | undefined): Promise<void> {
  const feeds = warmUpFeeds(context)
  try {
    await Promise.all(Array.from({length: context.backend.info.workers}, () => context.backend.run(cloneFeeds(feeds))))
  } catch (error) {
    logger?.warn({err: errorMessage(error)}, 'the warm-up inference failed; serving anyway')
  }
}

function cloneFeeds(feeds: TensorMap): TensorMap {
  const out: TensorMap = {}
  for (const [name, t] of Object.entries(feeds)) out[name] = {...t, data: t.data.slice()}
  return out
}
