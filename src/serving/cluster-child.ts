/**
 * One HTTP process of the cluster layout (cluster.ts forks it): the whole server with the model in-process (a cheap
 * model: the request path is the cost, see layout.ts), on the port it shares with its siblings. Its options come from
 * the primary over IPC; it listens only once warm (and told the layout is the cluster), and is ready at the primary's
 * word, which comes at once; GET /metrics answers the whole cluster's metrics, which the primary aggregates. Bundled on
 * its own as one CommonJS file, which the image runs with V8's code cache (cluster-child-loader.ts).
 */
import cluster from 'node:cluster'
import {openSync} from 'node:fs'

import type {Logger} from 'pino'

import {isMlshipError, errorMessage} from '../errors.js'
import {onInterrupt} from '../util/interrupt.js'
import type {ServingMetrics} from '../monitoring/metrics.js'
import type {ChildMessage, ClusterChildOptions, PrimaryMessage} from './cluster-protocol.js'
import {isPrimaryMessage} from './cluster-protocol.js'
import {processLimits} from './layout.js'
import {openModel} from './open-model.js'
import {createLogger} from './logger.js'
import type {RunningServer} from './server.js'
import {SHUTDOWN_LIMIT_MS} from './shutdown.js'
import {timeSingleRow} from './warm-up.js'

async function runChild(): Promise<void> {
  const send = (message: ChildMessage) => process.send?.(message)
  const waiters = new Map<string, (message: PrimaryMessage) => void>()
  let server: RunningServer | undefined
  let metrics: ServingMetrics | undefined
  let stopping = false
  let nextId = 0
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

  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return
    if (message.type === 'mlship:collect') {
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
    } else {
      waiters.get(message.type)?.(message)
    }
  })
  const next = <T extends PrimaryMessage['type']>(type: T) =>
    new Promise<Extract<PrimaryMessage, {type: T}>>((resolve) =>
      waiters.set(type, (message) => resolve(message as Extract<PrimaryMessage, {type: T}>)),
    )
  // The primary is gone (killed): nobody forwards connections any more.
  process.on('disconnect', () => stop(SHUTDOWN_LIMIT_MS - 1000))
  // SIGTERM from a supervisor, SIGINT from a terminal's Ctrl-C (which reaches every process of the group): the first
  // drains, a second Ctrl-C stops at once, as with one process.
  onInterrupt({onFirst: () => stop(SHUTDOWN_LIMIT_MS - 1000)})

  const starting = next('mlship:start')
  send({type: 'mlship:waiting'})
  const {options} = await starting
  const logger = createLogger(options.logLevel, options.logTo === 'stderr' ? 2 : 1).child({process: options.index})
  try {
    const proceed = options.measure ? next('mlship:proceed') : undefined
    const started = await startChildServer(options, {
      // The app is built and warm while the primary chooses the layout; the process listens once it is the cluster.
      beforeListen: async () => {
        await proceed
      },
      logger,
      measured: (rowCostMs) => send({type: 'mlship:measured', ...(rowCostMs === undefined ? {} : {rowCostMs})}),
      readyGate: async () => {
        const ready = next('mlship:ready')
        send({type: 'mlship:warm', workers: 1})
        await ready
      },
      render: () =>
        new Promise<string>((resolve, reject) => {
          const id = nextId++
          pendingMetrics.set(id, {reject, resolve})
          send({id, type: 'mlship:metrics'})
        }),
    })
    ;({server, metrics} = started)
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

/** What a process's start asks of its primary, and tells it. */
interface ChildServerHooks {
  logger: Logger
  /** The single-row inference time, where the options ask for a measurement. */
  measured: (rowCostMs: number | undefined) => void
  beforeListen: () => Promise<void>
  readyGate: () => Promise<void>
  /** GET /metrics: the whole cluster's, which the primary aggregates. */
  render: () => Promise<string>
}

/** A process's start, from its options to a server that answers: the model opened, measured, the app built, warm. */
async function startChildServer(
  options: ClusterChildOptions,
  hooks: ChildServerHooks,
): Promise<{server: RunningServer; metrics: ServingMetrics}> {
  // The model runs in this process's thread: cheap enough (layout.ts) that the hop to a worker costs more.
  const {backend, project} = await openModel({
    device: 'cpu',
    project: options.project,
    runIn: 'this-thread',
    serving: options.serving,
  })
  // The HTTP server's code (fastify, prom-client) is loaded once the model is measured: the primary learns the
  // model's cost sooner, which an expensive model's single layout waits for; loading it while timing would skew the
  // measurement. It loads while the primary answers.
  if (options.measure) hooks.measured(await timeSingleRow(backend, project.signature))
  const [{startServer}, {createServingMetrics}] = await Promise.all([
    import('./server.js'),
    import('../monitoring/metrics.js'),
  ])
  const metrics: ServingMetrics = {...createServingMetrics(), render: hooks.render}
  const server = await startServer({
    auth: {extraKeys: options.extraKeys},
    backend,
    beforeListen: hooks.beforeListen,
    host: options.host,
    largeBodies: {threads: 1},
    logger: hooks.logger,
    pipeline: {metrics},
    port: options.port,
    project: processLimits(project, options.processes),
    readyGate: hooks.readyGate,
    serving: options.serving,
  })
  return {metrics, server}
}

/**
 * A process's start and first answers (probes, a prediction, metrics) on the model in `modelDir`, with no primary: run
 * by write-code-cache.ts in the image's build before it writes V8's code cache, so that the cache holds the code a
 * process compiles as it starts and answers, and little else.
 */
export async function rehearse(modelDir: string): Promise<void> {
  const {loadConfig} = await import('../config/load.js')
  const project = await loadConfig(modelDir)
  const options: ClusterChildOptions = {
    extraKeys: [],
    host: '127.0.0.1',
    index: 1,
    logLevel: 'info',
    logTo: 'stdout',
    measure: true,
    port: 0,
    processes: 2,
    project,
    serving: {},
  }
  const logger = createLogger('info', openSync('/dev/null', 'w')).child({process: 1})
  const holder: {metrics?: ServingMetrics} = {}
  const started = await startChildServer(options, {
    beforeListen: async () => undefined,
    logger,
    measured: () => undefined,
    readyGate: async () => undefined,
    render: () => holder.metrics!.registry.metrics(),
  })
  holder.metrics = started.metrics
  const {server} = started
  const example = Object.fromEntries(server.context.signature.inputs.map((input) => [input.name, input.example]))
  const requests: Array<[string, RequestInit?]> = [
    ['/ready'],
    ['/health'],
    [
      '/predict',
      {body: JSON.stringify({inputs: example}), headers: {'content-type': 'application/json'}, method: 'POST'},
    ],
    ['/metrics'],
  ]
  for (const [path, init] of requests) {
    const response = await fetch(`${server.url}${path}`, init)
    if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${path} answered ${response.status}`)
    await response.arrayBuffer()
  }
  await server.close({deadlineMs: 1000})
}

if (cluster.isWorker) void runChild()
