import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'

import {onInterrupt} from '../util/interrupt.js'
import type {Device} from './device.js'
import type {RunningServer} from './server.js'

export interface ServeInProcessOptions {
  dir: string
  host?: string
  port?: number
  workers?: number
  device?: Device
  /** Where the server's log lines go (default stdout; stderr when stdout carries --json output). */
  logTo?: 'stdout' | 'stderr'
  /** Called once the server is ready. */
  onListening?: (info: ServeInProcessInfo) => void
  /** Called when a signal starts the graceful stop. */
  onStopping?: (signal: string) => void
  /** Resolves to stop the server (default: the first SIGINT or SIGTERM). Tests pass their own. */
  until?: (server: RunningServer) => Promise<string>
  /** Whether this process runs inside a container (default: /.dockerenv or /run/.containerenv exists). */
  insideContainer?: () => boolean
}

export interface ServeInProcessInfo {
  url: string
  model: string
  version: string
  workers: number
  executionProvider: string
  routes: string[]
  /** The interface listened on: 127.0.0.1 (this machine only) unless --host or serving.host say otherwise. */
  host: string
  /** Said once the server listens, where the address may not be what the user expects. */
  hint?: string
}

export interface ServeInProcessResult extends ServeInProcessInfo {
  stoppedBy: string
}

/** `mlship serve --local`: runs the server in this process until a signal, then stops it gracefully. */
export async function serveInProcess(options: ServeInProcessOptions): Promise<ServeInProcessResult> {
  // The serving app (fastify, prom-client, pino) loads when a server starts, not with `mlship serve`.
  const {startServer} = await import('./server.js')
  // GET / lists the routes below; with serving.auth.docs protected it needs a key, and this one never leaves memory.
  const ownKey = randomBytes(32).toString('hex')
  const server = await startServer({
    auth: {extraKeys: [ownKey]},
    device: options.device,
    dir: options.dir,
    host: options.host,
    logTo: options.logTo,
    port: options.port,
    serving: options.workers === undefined ? {} : {workers: options.workers},
  })
  const host = server.host
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost'
  const hint =
    loopback && (options.insideContainer ?? runsInContainer)()
      ? `listening on ${host} inside a container: a published port does not reach it; --host 0.0.0.0 shares it`
      : !loopback && !server.context.project.config.serving.auth.enabled
        ? `listening on ${host}: other machines on the network can reach the model and /metrics, without a key (serving.auth is off)`
        : undefined
  const info: ServeInProcessInfo = {
    executionProvider: server.context.backend.info.executionProvider,
    ...(hint ? {hint} : {}),
    host,
    model: server.context.modelName,
    routes: await listRoutes(server, ownKey),
    url: server.url,
    version: server.context.modelVersion,
    workers: server.context.backend.info.workers,
  }
  options.onListening?.(info)
  // A second Ctrl-C while the server drains stops at once.
  const interrupt = options.until ? undefined : onInterrupt()
  try {
    const stoppedBy = await (options.until ? options.until(server) : interrupt!.received)
    options.onStopping?.(stoppedBy)
    await server.close()
    return {...info, stoppedBy}
  } finally {
    interrupt?.dispose()
  }
}

async function listRoutes(server: RunningServer, key: string): Promise<string[]> {
  const response = await server.app.inject({headers: {authorization: `Bearer ${key}`}, method: 'GET', url: '/'})
  return (JSON.parse(response.body) as {routes: string[]}).routes
}

function runsInContainer(): boolean {
  return existsSync('/.dockerenv') || existsSync('/run/.containerenv')
}
