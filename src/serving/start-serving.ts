import {stat} from 'node:fs/promises'

import type {Logger} from 'pino'

import {readCheckedConfig} from '../config/checked-config.js'
import {type ClusterLaunch, forkCluster, type RunningCluster} from './cluster.js'
import {usableCpus} from './cpus.js'
import {chooseDevice, type Device} from './device.js'
import {chooseLayout, layoutSettings, needsMeasurement, type LayoutSetting, type ServingLayout} from './layout.js'
import {localUrl} from './local-url.js'
import type {RunningServer} from './server.js'
import {resolveSettings, type ServingOverrides} from './settings.js'

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
 * Starts the server in the layout its measured cost calls for (layout.ts). Where the cluster is possible and the model
 * file is up to MEASURE_MAX_BYTES (a larger one is served single unmeasured), the cluster's first process starts at
 * once and times a single-row inference: this process then either lets it serve, and the others join it (the primary
 * of one HTTP process per usable CPU, cluster.ts), or stops it and serves the model itself (inference workers and the
 * batcher).
 */
export async function startServing(options: StartServingOptions): Promise<ServingHandle> {
  const env = options.env ?? process.env
  const fromEnv = layoutSettings(env)
  const setting = options.layout ?? fromEnv.setting
  const loaded = (await readCheckedConfig(options.dir)) ?? (await loadConfigFile(options.dir))
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

  const modelBytes = setting === 'auto' ? await fileSize(loaded.modelPath) : undefined
  const layoutInput = {cpus, device, modelBytes, processes, setting, singleOnly}
  const candidate = chooseLayout({...layoutInput, rowCostMs: 0})
  // Imported once the processes are forked (pino is not on the way to them); the single layout's server makes its own.
  const clusterLogger = async () =>
    (await import('./logger.js')).createLogger(settings.logLevel, options.logTo === 'stderr' ? 2 : 1)
  const host = options.host ?? config.serving.host
  const childOptions = {
    extraKeys: options.extraKeys ?? [],
    host,
    logLevel: settings.logLevel,
    logTo: options.logTo ?? 'stdout',
    port: options.port ?? config.serving.port,
    project: loaded,
    serving: options.serving ?? {},
  } as const
  let layout = candidate
  let logger: Logger | undefined
  let launch: ClusterLaunch | undefined
  if (candidate.kind === 'cluster') {
    // The cluster's first process measures the model (a single-row inference, timed in the thread that would serve
    // it), and this process chooses from its measurement: it never loads onnxruntime itself. The others start once the
    // first is warm (forkCluster): it has a CPU to itself until then, and none loads a model in vain.
    const measure = needsMeasurement(layoutInput)
    launch = forkCluster({processes: candidate.processes})
    const started = launch.start({...childOptions, measure, processes: candidate.processes})
    if (measure) {
      layout = chooseLayout({...layoutInput, rowCostMs: await launch.rowCost()})
      if (layout.kind === 'single') launch.cancel()
      else launch.proceed()
    }
    if (layout.kind === 'cluster') {
      // Made once the processes go on to serve, so that loading pino does not slow them before: until then the primary
      // has nothing of its own to log (a process that fails to start fails the start, which the caller reports).
      logger = await clusterLogger()
      launch.logTo(logger)
      logger.info({layout}, 'serving layout')
      const running = await started
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
