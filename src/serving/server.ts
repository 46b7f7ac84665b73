import type {Socket} from 'node:net'

import type {FastifyInstance, FastifyPluginAsync} from 'fastify'
import type {Logger} from 'pino'

import {buildApp} from './app.js'
import {servingAuth, type ServingAuthOptions} from './auth/plugin.js'
import type {RoutePluginOptions, ServingContext} from './context.js'
import {usableCpus} from './cpus.js'
import {createServingContext, type ServingContextOptions} from './create-context.js'
import {type BodyDecoder, DecodePool} from './decode-pool.js'
import type {ExperimentRuntime} from './experiment/runtime.js'
import {ServingHttp} from './http-server.js'
import {InferencePipeline, type InferencePipelineOptions} from './inference-pipeline.js'
import {listenError} from './listen-error.js'
import {loadSheddingGate} from './load-shedding.js'
import {createLogger} from './logger.js'
import {metricsPlugin} from './metrics-plugin.js'
import {warmUp} from './warm-up.js'
import type {WorkerPoolOptions} from './worker-pool.js'
import {localUrl} from './local-url.js'

/** What starts a server: its model and backend (ServingContextOptions), then how it listens, logs and serves. */
export interface StartServerOptions extends ServingContextOptions {
  /** Defaults to model.yaml's serving.host / serving.port; port 0 picks a free port. */
  host?: string
  port?: number
  /** A pino logger, or false for none. Default: JSON lines on stdout at LOG_LEVEL / serving.log_level. */
  logger?: Logger | false
  /** Where the default logger writes (stderr when stdout carries a command's --json output). Default stdout. */
  logTo?: 'stdout' | 'stderr'
  /** More route plugins (e.g. /metrics), registered after the built-in routes with the same `context` option. */
  plugins?: Array<FastifyPluginAsync<RoutePluginOptions>>
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
  /**
   * False: the server serves the connections handed to it (acceptConnection), not `host` and `port`: the cluster
   * layout's other processes, whose connections the first process accepts and hands on (cluster.ts). Default true.
   */
  listen?: boolean
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
  /** Serves a connection accepted elsewhere (a server started with `listen: false`). */
  acceptConnection(socket: Socket): void
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
      // Imported only by a server with an experiment: its statistics (hdr-histogram-js, which decodes and inflates a
      // WebAssembly module as it loads) cost every other server's start-up some 40 ms of CPU (issue 19).
      const {startExperiment} = await import('./experiment/runtime.js')
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
      const poolOptions = {
        limits: context.limits,
        modelDir: context.project.dir,
        outputNames: context.outputNames,
        signature: context.signature,
        threads: large.threads ?? Math.max(1, Math.min(2, Math.floor((context.settings.cpus ?? usableCpus()) / 2))),
      }
      // Preprocessing (images, texts) runs in these threads for every request that has it: started with the server.
      // Without it, only a large body needs them, and their start stays out of the cold start (DecodePool.lazy).
      const pool = context.preprocessor ? await DecodePool.start(poolOptions) : DecodePool.lazy(poolOptions)
      decodePool = large.wrap ? large.wrap(pool) : pool
      const {preprocessor} = context
      if (preprocessor && decodePool.preprocess) {
        const threads = decodePool
        preprocessor.useThreads((rows) => threads.preprocess!(rows))
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
  const warm = () => Promise.all([warmUp(context, logger || undefined), experiment?.warmUp()])
  const closeAll = async () => {
    await app.close()
    await decodePool?.close()
    await context.backend.close()
    await experiment?.close()
  }
  const listening = options.listen ?? true
  try {
    if (listening) await app.listen({host, port})
    else {
      await app.ready()
      // Node tracks a server's connections (the header and request timeouts, closing idle ones at shutdown) only once
      // it listens: it listens on a loopback port of its own, which nothing is told of, exclusive (not node:cluster's).
      await new Promise<void>((resolve, reject) => {
        app.server.once('error', reject)
        app.server.listen({exclusive: true, host: '127.0.0.1', port: 0}, () => {
          app.server.off('error', reject)
          resolve()
        })
      })
    }
  } catch (error) {
    await closeAll()
    throw listening ? listenError(error, host, port) : error
  }
  // After listening: a slow warm-up leaves /health answering meanwhile (readiness turns 200 once it is done).
  await warm()
  context.state.phase = 'ready'

  const address = listening ? app.server.address() : undefined
  const actualPort = typeof address === 'object' && address ? address.port : port
  let closing: Promise<void> | undefined
  return {
    acceptConnection: (socket) => {
      app.server.emit('connection', socket)
      socket.resume()
    },
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
        const deadlineMs = closeOptions.deadlineMs ?? 8000
        const deadline = setTimeout(() => connections.closeAllConnections(), deadlineMs)
        await connections.linger(closeOptions.lingerMs ?? 1000)
        lingerOver = true
        sweepOnce()
        try {
          // Fastify's close does not wait for the connections of a server it did not listen with: it waits here,
          // until the deadline cuts them.
          if (!listening) await connections.linger(deadlineMs + 1000)
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
    url: localUrl(host, actualPort),
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
