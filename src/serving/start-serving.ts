import {stat} from 'node:fs/promises'
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {Logger} from 'pino'

import {readCheckedConfig} from '../config/checked-config.js'
import {forkCluster, type RunningCluster} from './cluster.js'
import type {ClusterChildOptions} from './cluster-protocol.js'
import {usableCpus} from './cpus.js'
import {chooseDevice, type Device} from './device.js'
import {chooseLayout, layoutSettings, needsMeasurement, type LayoutSetting, type ServingLayout} from './layout.js'
import {openInThread, serveInThread} from './in-thread-server.js'
import {localUrl} from './local-url.js'
import {createLogger} from './logger.js'
import type {OpenedModel} from './open-model.js'
import {listenError} from './listen-error.js'
import type {RunningServer} from './server.js'
import {resolveSettings, type ServingOverrides} from './settings.js'
import {SharedConnections} from './shared-connections.js'
import {SHUTDOWN_LIMIT_MS} from './shutdown.js'
import {timeSingleRow} from './warm-up.js'

export interface StartServingOptions {
  dir: string
  host?: string
  port?: number
  device?: Device
  serving?: ServingOverrides
  logTo?: 'stdout' | 'stderr'
  /** API keys minted in this process, accepted besides the configured ones. */
  extraKeys?: string[]
  /** Default: MLSHIP_SERVING_LAYOUT, else auto. */
  layout?: LayoutSetting
  /** The cluster's size; default MLSHIP_SERVING_PROCESSES, else one process per usable CPU. */
  processes?: number
  /** The CPUs this process may use (default usableCpus()). */
  cpus?: number
  env?: NodeJS.ProcessEnv
}

/** A server in either layout: what `serve --local` and the image's entry need of it. */
export interface ServingHandle {
  layout: ServingLayout
  url: string
  host: string
  port: number
  modelName: string
  modelVersion: string
  executionProvider: 'cpu' | 'cuda'
  /** Inference workers (single) or in-process sessions, one per HTTP process (cluster). */
  workers: number
  authEnabled: boolean
  logger: Logger
  /** The server in this process: the single layout's, or the cluster's first HTTP process. */
  server?: RunningServer
  cluster?: RunningCluster
  close(options?: {deadlineMs?: number}): Promise<void>
}

/**
 * Starts the server in the layout its measured cost calls for (layout.ts). Where the cluster is possible and the model
 * file is up to MEASURE_MAX_BYTES (a larger one is served single unmeasured), this process opens the model in its own
 * thread and times a single-row inference: it then either serves it there, as the cluster's first HTTP process, and
 * forks the others (one HTTP process per usable CPU in all, cluster.ts), or closes it and serves the model in inference
 * workers with the batcher.
 */
export async function startServing(options: StartServingOptions): Promise<ServingHandle> {
  const env = options.env ?? process.env
  const fromEnv = layoutSettings(env)
  const setting = options.layout ?? fromEnv.setting
  const loaded = (await readCheckedConfig(options.dir)) ?? (await loadConfigFile(options.dir))
  const {config} = loaded
  const cpus = options.cpus ?? usableCpus()
  const settings = resolveSettings(config.serving, options.serving ?? {}, env, cpus)
  const device = chooseDevice(options.device, env, config.build.gpu).device
  const processes = options.processes ?? fromEnv.processes
  const singleOnly = config.experiment
    ? 'model.yaml has an experiment: its variants share one process'
    : config.monitoring.prediction_log.enabled
      ? 'monitoring.prediction_log writes one file from one process'
      : options.serving?.workers !== undefined || config.serving.workers !== 'auto'
        ? 'the inference workers are set (serving.workers or --workers)'
        : undefined

  const modelBytes = setting === 'auto' ? await fileSize(loaded.modelPath) : undefined
  const layoutInput = {cpus, device, modelBytes, processes, setting, singleOnly}
  const candidate = chooseLayout({...layoutInput, rowCostMs: 0})
  let layout = candidate
  if (candidate.kind === 'cluster') {
    // This process opens the model in its own thread and, where the layout is still to be chosen, times a single-row
    // inference there, in the thread that would serve it: a cheap model it then serves itself, as the cluster's first
    // HTTP process, and the others start once it does; an expensive one it closes, and serves in inference workers.
    const opened = await openInThread(loaded, options.serving ?? {}, cpus)
    if (needsMeasurement(layoutInput)) {
      layout = chooseLayout({...layoutInput, rowCostMs: await timeSingleRow(opened.backend, opened.project.signature)})
    }
    if (layout.kind === 'cluster') {
      try {
        return await startCluster(opened, layout, {
          extraKeys: options.extraKeys ?? [],
          host: options.host ?? config.serving.host,
          logLevel: settings.logLevel,
          logTo: options.logTo ?? 'stdout',
          port: options.port ?? config.serving.port,
          processes: layout.processes,
          project: loaded,
          serving: options.serving ?? {},
        })
      } catch (error) {
        await opened.backend.close().catch(() => undefined)
        throw error
      }
    }
    await opened.backend.close()
  }

  const {startServer} = await import('./server.js')
  const server = await startServer({
    auth: {extraKeys: options.extraKeys ?? []},
    device: options.device,
    dir: options.dir,
    host: options.host,
    logTo: options.logTo,
    port: options.port,
    serving: options.serving ?? {},
  })
  server.app.log.info({layout}, 'serving layout')
  return {
    authEnabled: server.context.project.config.serving.auth.enabled,
    close: (closeOptions) => server.close(closeOptions),
    executionProvider: server.context.backend.info.executionProvider,
    host: server.host,
    layout,
    logger: server.app.log as unknown as Logger,
    modelName: server.context.modelName,
    modelVersion: server.context.modelVersion,
    port: server.port,
    server,
    url: server.url,
    workers: server.context.backend.info.workers,
  }
}

/** How long after the cluster's first process is ready the others start at the latest (see startCluster). */
const OTHERS_START_AFTER_MS = 200

/**
 * The cluster layout: this process serves (the model in its thread, the port its own) and is ready as soon as it is;
 * then it forks the cluster's other HTTP processes, and hands each its turn of the connections once it is warm.
 */
async function startCluster(
  opened: OpenedModel,
  layout: Extract<ServingLayout, {kind: 'cluster'}>,
  child: Omit<ClusterChildOptions, 'index'>,
): Promise<ServingHandle> {
  const logger = createLogger(child.logLevel, child.logTo === 'stderr' ? 2 : 1)
  const holder: {cluster?: RunningCluster} = {}
  const {server, metrics} = await serveInThread({
    ...child,
    listen: false,
    logger: logger.child({process: 1}),
    opened,
    // Until the others are forked (a moment), this process's own.
    render: () => (holder.cluster ? holder.cluster.metrics() : metrics.registry.metrics()),
  })
  const connections = new SharedConnections((socket) => server.acceptConnection(socket))
  let port: number
  try {
    port = await connections.listen(child.host, child.port)
  } catch (error) {
    await server.close({deadlineMs: 0, lingerMs: 0})
    throw listenError(error, child.host, child.port)
  }
  // The others start once this process has answered its first request (a readiness probe, as a rule), or a moment
  // after it is ready: each is a node process starting, which would compete for the CPUs with those first answers.
  const firstAnswered = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, OTHERS_START_AFTER_MS)
    server.app.server.once('request', (_request: IncomingMessage, response: ServerResponse) =>
      response.once('finish', () => {
        clearTimeout(timer)
        resolve()
      }),
    )
  })
  void firstAnswered.then(() => metrics.startProcessMetrics())
  const running = forkCluster({
    child: {...child, port},
    connections,
    // The cluster cannot serve as it should any more (cluster.ts): this process drains too, then exits.
    exit: (code) => {
      connections.close()
      void server.close({deadlineMs: SHUTDOWN_LIMIT_MS - 1000}).finally(() => process.exit(code))
    },
    logger,
    ownMetrics: () => metrics.snapshot(),
    processes: layout.processes - 1,
    startAfter: firstAnswered,
  })
  holder.cluster = running
  logger.info({layout}, 'serving layout')
  return {
    authEnabled: child.project.config.serving.auth.enabled,
    close: async (closeOptions) => {
      connections.close()
      const [others, own] = await Promise.allSettled([running.close(closeOptions), server.close(closeOptions)])
      if (others.status === 'rejected') throw others.reason
      if (own.status === 'rejected') throw own.reason
    },
    cluster: running,
    executionProvider: 'cpu',
    host: child.host,
    layout,
    logger,
    modelName: child.project.config.name,
    modelVersion: child.project.config.version,
    port,
    server,
    url: localUrl(child.host, port),
    workers: layout.processes,
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

/** Loaded only where the image's checked copy does not apply (checked-config.ts): the YAML parser and zod are large. */
async function loadConfigFile(dir: string) {
  const {loadConfig} = await import('../config/load.js')
  return loadConfig(dir)
}
