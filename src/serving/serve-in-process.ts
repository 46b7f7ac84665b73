import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'

import {onInterrupt} from '../util/interrupt.js'
import type {ServingLayout} from './layout.js'
import type {Device} from './device.js'
import type {ServingHandle} from './start-serving.js'

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
  until?: (server: ServingHandle) => Promise<string>
  /** Whether this process runs inside a container (default: /.dockerenv or /run/.containerenv exists). */
  insideContainer?: () => boolean
}

export interface ServeInProcessInfo {
  url: string
  model: string
  version: string
  /** Inference workers (one process), or HTTP processes with a session each (the cluster layout). */
  workers: number
  executionProvider: string
  /** How the server uses the CPUs (layout.ts): one process, or one HTTP process per CPU; and why. */
  layout: ServingLayout
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
  const {startServing} = await import('./start-serving.js')
  // GET / lists the routes below; with serving.auth.docs protected it needs a key, and this one never leaves memory
  // (the cluster layout's processes get it over their IPC channel).
  const ownKey = randomBytes(32).toString('hex')
  const server = await startServing({
    device: options.device,
    dir: options.dir,
    extraKeys: [ownKey],
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
      : !loopback && !server.authEnabled
        ? `listening on ${host}: other machines on the network can reach the model and /metrics, without a key (serving.auth is off)`
        : undefined
  const info: ServeInProcessInfo = {
    executionProvider: server.executionProvider,
    ...(hint ? {hint} : {}),
    host,
    layout: server.layout,
    model: server.modelName,
    routes: await listRoutes(server, ownKey),
    url: server.url,
    version: server.modelVersion,
    workers: server.workers,
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

async function listRoutes(server: ServingHandle, key: string): Promise<string[]> {
  const headers = {authorization: `Bearer ${key}`}
  const body = server.server
    ? (await server.server.app.inject({headers, method: 'GET', url: '/'})).body
    : await (await fetch(`${server.url}/`, {headers})).text()
  return (JSON.parse(body) as {routes: string[]}).routes
}

function runsInContainer(): boolean {
  return existsSync('/.dockerenv') || existsSync('/run/.containerenv')
}
