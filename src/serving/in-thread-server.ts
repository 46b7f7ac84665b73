/**
 * A server with its model in its own thread: each HTTP process of the cluster layout (layout.ts: a model cheap enough
 * that the hop to an inference worker costs more than the inference), the first (start-serving.ts, which measures the
 * model with it) and the others (cluster-child.ts) alike.
 */
import type {Logger} from 'pino'

import type {LoadedConfig} from '../config/load.js'
import type {ServingMetrics} from '../monitoring/metrics.js'
import {processLimits} from './layout.js'
import {openModel, type OpenedModel} from './open-model.js'
import type {RunningServer} from './server.js'
import type {ServingOverrides} from './settings.js'

/** The model opened in this thread (one session, on the CPU); `cpus`: the CPUs this process may use, where known. */
export function openInThread(project: LoadedConfig, serving: ServingOverrides, cpus?: number): Promise<OpenedModel> {
  return openModel({cpus, device: 'cpu', project, runIn: 'this-thread', serving})
}

export interface InThreadServerOptions {
  opened: OpenedModel
  host: string
  port: number
  /** False: serves the connections the first process hands it (SharedConnections), listening on no port. */
  listen: boolean
  /** The cluster's HTTP processes: each takes its share of the queue (processLimits). */
  processes: number
  serving: ServingOverrides
  extraKeys: string[]
  logger: Logger
  /** GET /metrics: the whole cluster's. */
  render: () => Promise<string>
}

/**
 * The app on the opened model: built and warm, listening (or ready for connections handed to it), ready. Its process
 * metrics are the caller's to start (metrics.startProcessMetrics), once the process has answered.
 */
export async function serveInThread(
  options: InThreadServerOptions,
): Promise<{server: RunningServer; metrics: ServingMetrics}> {
  // The HTTP server's code (fastify, prom-client) loads once the model is open and measured: loading it while timing
  // would skew the measurement.
  const [{startServer}, {createServingMetrics}] = await Promise.all([
    import('./server.js'),
    import('../monitoring/metrics.js'),
  ])
  // The process metrics start once the process serves (startProcessMetrics): no part of its way to its first answer.
  const metrics: ServingMetrics = {...createServingMetrics({processMetrics: 'later'}), render: options.render}
  const server = await startServer({
    auth: {extraKeys: options.extraKeys},
    backend: options.opened.backend,
    host: options.host,
    largeBodies: {threads: 1},
    listen: options.listen,
    logger: options.logger,
    pipeline: {metrics},
    port: options.port,
    project: processLimits(options.opened.project, options.processes),
    serving: options.serving,
  })
  return {metrics, server}
}
