import {stat} from 'node:fs/promises'

import type {Logger} from 'pino'

import {loadConfig} from '../config/load.js'
import type {ResolvedModel} from '../model/load-model.js'
import {type ClusterLaunch, forkCluster, type RunningCluster} from './cluster.js'
import {usableCpus} from './cpus.js'
import {chooseDevice, type Device} from './device.js'
import {openModel} from './open-model.js'
import {
  chooseLayout,
  layoutSettings,
  measureRowCost,
  needsMeasurement,
  type LayoutSetting,
  type ServingLayout,
} from './layout.js'
import {localUrl} from './local-url.js'
import {createLogger} from './logger.js'
import type {RunningServer} from './server.js'
import {resolveSettings, type ServingOverrides} from './settings.js'
import {cloneFeeds, warmUpFeeds} from './warm-up.js'

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
  /** The server, when it runs in this process (the single layout). */
  server?: RunningServer
  cluster?: RunningCluster
  close(options?: {deadlineMs?: number}): Promise<void>
}

/**
 * Starts the server in the layout its measured cost calls for (layout.ts): a model file up to MEASURE_MAX_BYTES is
 * opened once in this thread and a single-row inference timed (a larger one is served single unmeasured), and then
 * either this process serves it (inference workers and the batcher) or it becomes the primary of one HTTP process
 * per usable CPU (cluster.ts).
 */
export async function startServing(options: StartServingOptions): Promise<ServingHandle> {
  const env = options.env ?? process.env
  const fromEnv = layoutSettings(env)
  const setting = options.layout ?? fromEnv.setting
  const loaded = await loadConfig(options.dir)
  const {config} = loaded
  const settings = resolveSettings(config.serving, options.serving ?? {}, env)
  const device = chooseDevice(options.device, env, config.build.gpu).device
  const cpus = options.cpus ?? usableCpus()
  const processes = options.processes ?? fromEnv.processes
  const singleOnly = config.experiment
    ? 'model.yaml has an experiment: its variants share one process'
    : config.monitoring.prediction_log.enabled
      ? 'monitoring.prediction_log writes one file from one process'
      : options.serving?.workers !== undefined || config.serving.workers !== 'auto'
        ? 'the inference workers are set (serving.workers or --workers)'
        : undefined

  let project: ResolvedModel | undefined
  let rowCostMs: number | undefined
  const modelBytes = setting === 'auto' ? await fileSize(loaded.modelPath) : undefined
  const layoutInput = {cpus, device, modelBytes, processes, setting, singleOnly}
  const candidate = chooseLayout({...layoutInput, rowCostMs: 0})
  // The processes load their code while this one measures the model. Only for a model file that small models have:
  // forking in vain would slow the start of an expensive model on a machine with few cores.
  const clusterLogger = () => createLogger(settings.logLevel, options.logTo === 'stderr' ? 2 : 1)
  let logger: Logger | undefined
  let launch: ClusterLaunch | undefined
  if (
    candidate.kind === 'cluster' &&
    (setting === 'cluster' || (modelBytes ?? Number.POSITIVE_INFINITY) <= SPECULATE_BYTES)
  ) {
    logger = clusterLogger()
    launch = forkCluster({logger, processes: candidate.processes})
  }
  // Only a model file small enough to be a cheap one is opened and timed here (layout.ts, MEASURE_MAX_BYTES): a
  // larger one would be opened twice before /ready, and is served single without the measurement.
  if (needsMeasurement(layoutInput)) {
    // Timed on a session of this thread, as each HTTP process of the cluster would run it.
    let opened
    try {
      opened = await openModel({device, env, project: loaded, runIn: 'this-thread', serving: options.serving})
    } catch (error) {
      launch?.cancel()
      throw error
    }
    project = opened.project
    try {
      const feeds = warmUpFeeds({signature: project.signature})
      const rows = Object.values(feeds)[0]?.dims[0] ?? 1
      rowCostMs = await measureRowCost(() => opened.backend.run(cloneFeeds(feeds)), {rows})
    } catch {
      // A model that fails on its warm-up input is served the way it always was; the server logs the failure.
    } finally {
      await opened.backend.close()
    }
  }
  const layout = chooseLayout({...layoutInput, rowCostMs})

  if (layout.kind === 'single') {
    launch?.cancel()
    const {startServer} = await import('./server.js')
    const server = await startServer({
      auth: {extraKeys: options.extraKeys ?? []},
      device: options.device,
      dir: options.dir,
      host: options.host,
      logTo: options.logTo,
      port: options.port,
      ...(project ? {project} : {}),
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

  logger ??= clusterLogger()
  logger.info({layout}, 'serving layout')
  const host = options.host ?? config.serving.host
  const running = await (launch ?? forkCluster({logger, processes: layout.processes})).start({
    project: project ?? loaded,
    extraKeys: options.extraKeys ?? [],
    host,
    logLevel: settings.logLevel,
    logTo: options.logTo ?? 'stdout',
    port: options.port ?? config.serving.port,
    processes: layout.processes,
    serving: options.serving ?? {},
  })
  return {
    authEnabled: config.serving.auth.enabled,
    close: (closeOptions) => running.close(closeOptions),
    cluster: running,
    executionProvider: 'cpu',
    host,
    layout,
    logger,
    modelName: config.name,
    modelVersion: config.version,
    port: running.port,
    url: localUrl(host, running.port),
    workers: layout.processes,
  }
}

/** Model files up to this size start the cluster's processes before the measurement says whether it is one. */
const SPECULATE_BYTES = 1024 * 1024

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size
  } catch {
    return Number.POSITIVE_INFINITY
  }
}
