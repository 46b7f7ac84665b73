/**
 * One of the cluster layout's other HTTP processes (cluster.ts forks it): the whole server with the model in-process
 * (a cheap model: the request path is the cost, see layout.ts). Its options come from the first process over IPC, and
 * so do its connections, which that process accepts on the port and hands round (SharedConnections): it does not listen
 * on the port (server.ts's `listen: false`). GET /metrics answers the whole cluster's metrics, which the first process
 * aggregates.
 */
import type {Socket} from 'node:net'

import {errorMessage, isMlshipError} from '../errors.js'
import type {ServingMetrics} from '../monitoring/metrics.js'
import {onInterrupt} from '../util/interrupt.js'
import type {ChildMessage, PrimaryMessage} from './cluster-protocol.js'
import {isPrimaryMessage} from './cluster-protocol.js'
import {openInThread, serveInThread} from './in-thread-server.js'
import {createLogger} from './logger.js'
import type {RunningServer} from './server.js'
import {SHUTDOWN_LIMIT_MS} from './shutdown.js'

/** Runs this process as a forked HTTP process of the cluster (cluster-child-entry.ts, image-server.ts). */
export async function runChild(): Promise<void> {
  const send = (message: ChildMessage) => process.send?.(message)
  let server: RunningServer | undefined
  let metrics: ServingMetrics | undefined
  let stopping = false
  let nextId = 0
  let started!: (options: Extract<PrimaryMessage, {type: 'mlship:start'}>['options']) => void
  const starting = new Promise<Extract<PrimaryMessage, {type: 'mlship:start'}>['options']>(
    (resolve) => (started = resolve),
  )
  const pendingMetrics = new Map<number, {resolve: (text: string) => void; reject: (error: Error) => void}>()

  const stop = (deadlineMs: number, code = 0) => {
    if (stopping) return
    stopping = true
    const timer = setTimeout(() => process.exit(1), deadlineMs + 1000)
    timer.unref()
    void (server ? server.close({deadlineMs}) : Promise.resolve()).then(
      () => process.exit(code),
      () => process.exit(1),
    )
  }

  process.on('message', (message: unknown, handle: unknown) => {
    if (!isPrimaryMessage(message)) return
    if (message.type === 'mlship:connection') {
      const socket = handle as Socket | undefined
      // Handed on just as it stopped, or before it was warm (never: the first process waits for mlship:warm).
      if (server) server.acceptConnection(socket!)
      else socket?.destroy()
    } else if (message.type === 'mlship:collect') {
      void (metrics ? metrics.snapshot() : Promise.resolve([])).then((snapshot) =>
        send({id: message.id, metrics: snapshot, type: 'mlship:collected'}),
      )
    } else if (message.type === 'mlship:metrics') {
      const pending = pendingMetrics.get(message.id)
      pendingMetrics.delete(message.id)
      if (message.text !== undefined) pending?.resolve(message.text)
      else pending?.reject(new Error(message.error ?? 'the cluster metrics are not available'))
    } else if (message.type === 'mlship:stop') {
      stop(message.deadlineMs)
    } else if (message.type === 'mlship:start') {
      started(message.options)
    }
  })
  // The first process is gone (killed): nobody hands connections on any more.
  process.on('disconnect', () => stop(SHUTDOWN_LIMIT_MS - 1000))
  // SIGTERM from a supervisor, SIGINT from a terminal's Ctrl-C (which reaches every process of the group): the first
  // drains, a second Ctrl-C stops at once, as with one process.
  onInterrupt({onFirst: () => stop(SHUTDOWN_LIMIT_MS - 1000)})

  send({type: 'mlship:waiting'})
  const options = await starting
  const logger = createLogger(options.logLevel, options.logTo === 'stderr' ? 2 : 1).child({process: options.index})
  try {
    const opened = await openInThread(options.project, options.serving)
    ;({server, metrics} = await serveInThread({
      extraKeys: options.extraKeys,
      host: options.host,
      listen: false,
      logger,
      opened,
      port: options.port,
      processes: options.processes,
      render: () =>
        new Promise<string>((resolve, reject) => {
          const id = nextId++
          pendingMetrics.set(id, {reject, resolve})
          send({id, type: 'mlship:metrics'})
        }),
      serving: options.serving,
    }))
    metrics.startProcessMetrics()
    send({type: 'mlship:warm'})
  } catch (error) {
    logger.flush()
    const failed: ChildMessage = {
      error: isMlshipError(error)
        ? {
            code: error.code,
            details: error.details,
            exitCode: error.exitCode,
            message: error.message,
            suggestions: error.suggestions,
          }
        : {message: errorMessage(error)},
      type: 'mlship:failed',
    }
    // Exit 1 once the failure is sent. Not process.disconnect(): node:cluster exits a worker whose channel closes
    // unasked with code 0 (and this process's own 'disconnect' handler would stop with 0 too).
    stopping = true
    if (!process.send) process.exit(1)
    process.send(failed, undefined, undefined, () => process.exit(1))
  }
}
