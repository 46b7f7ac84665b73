import type {Worker} from 'node:cluster'
import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import type {Socket} from 'node:net'
import {fileURLToPath, pathToFileURL} from 'node:url'

import type {Logger} from 'pino'

import type {MetricsSnapshot} from '../monitoring/metrics.js'
import {siblingModule} from '../worker-thread.js'
import type {ClusterMetrics} from './cluster-metrics.js'
import {type ClusterChildOptions, isChildMessage, type PrimaryMessage} from './cluster-protocol.js'
import type {SharedConnections} from './shared-connections.js'
import {SHUTDOWN_LIMIT_MS} from './shutdown.js'

export interface ForkClusterOptions {
  /** How many processes to fork: the cluster's HTTP processes but the first, which is the caller's own. */
  processes: number
  /** What each starts with (its number is added: 2 onwards, the first process being 1). */
  child: Omit<ClusterChildOptions, 'index'>
  /** Where the first process hands connections on: each process takes its turn once warm. */
  connections: Pick<SharedConnections, 'add' | 'remove'>
  /** The processes are forked once this resolves (default: at once). */
  startAfter?: Promise<void>
  /** The first process's own metrics, summed with the others' in the one view (GET /metrics on any process). */
  ownMetrics: () => Promise<MetricsSnapshot>
  /** The cluster's own lines: a process that stops, a replacement. */
  logger?: Logger
  /** How long the first process waits for another to send its metrics before it answers without them (ms). */
  collectTimeoutMs?: number
  /** How long one aggregation answers every GET /metrics (ms): concurrent scrapes share one. Default 1000. */
  metricsReuseMs?: number
  /** Ends this process once the cluster cannot serve as it should any more (default process.exit). */
  exit?: (code: number) => void
  now?: () => number
}

export interface RunningCluster {
  /** The processes forked (the cluster's HTTP processes but the first). */
  processes: number
  /**
   * Graceful, for every forked process at once: each drains as a single server does (RunningServer.close) within
   * `deadlineMs`; a process still running 1.5 s after that is killed. Rejects when a process did not stop cleanly.
   */
  close(options?: {deadlineMs?: number}): Promise<void>
  /** The whole cluster's metrics in the Prometheus text format (what GET /metrics answers on any process). */
  metrics(): Promise<string>
  /** The process ids of the forked processes running now. */
  pids(): number[]
  /** Resolves once every forked process has been warm, and takes connections. */
  allWarm(): Promise<void>
}

/**
 * The cluster layout's other HTTP processes (layout.ts): forks `processes` of them (cluster-child.ts), once the first
 * (the caller's own process) serves. Each opens the model, builds its app and warms up, then takes its turn of the
 * connections the first process accepts (SharedConnections). The first process aggregates the metrics (prom-client's
 * AggregatorRegistry) for whichever process's GET /metrics asks, replaces a process that dies, and stops them all on
 * close().
 */
export function forkCluster(options: ForkClusterOptions): RunningCluster {
  // node:cluster is loaded once the processes are forked: it is no part of the first process's way to serving.
  let cluster: typeof import('node:cluster').default | undefined
  const {logger} = options
  const total = options.processes
  const children = new Map<number, Worker>()
  const warm = new Set<number>()
  const collections = new Map<
    number,
    {waiting: Set<Worker>; snapshots: Map<Worker, [number, MetricsSnapshot]>; done: () => void}
  >()
  let phase: 'serving' | 'stopping' = 'serving'
  let nextCollection = 0
  let stopFailures = 0
  let stopped: (() => void) | undefined
  const startingWhenStopped = new Set<Worker>()
  let everyWarm!: () => void
  const allWarm = new Promise<void>((resolve) => (everyWarm = resolve))

  const send = (worker: Worker, message: PrimaryMessage) => {
    if (worker.isConnected()) worker.send(message)
  }

  const collect = () =>
    new Promise<Map<number, MetricsSnapshot>>((resolve) => {
      const live = [...children.values()].filter((worker) => worker.isConnected())
      const id = nextCollection++
      const snapshots = new Map<Worker, [number, MetricsSnapshot]>()
      const entry = {done: () => undefined, snapshots, waiting: new Set(live)}
      collections.set(id, entry)
      // A process that stopped answering (it is being replaced) counts with its last numbers (ClusterMetrics).
      const timer = setTimeout(() => entry.done(), options.collectTimeoutMs ?? 2000)
      entry.done = () => {
        clearTimeout(timer)
        collections.delete(id)
        resolve(new Map(entry.snapshots.values()))
      }
      for (const worker of live) send(worker, {id, type: 'mlship:collect'})
      if (live.length === 0) entry.done()
    })
  // Loaded once every process is warm (or asked for before): prom-client's aggregation would compete with their start
  // for the CPUs.
  let metrics: ClusterMetrics | undefined
  let metricsLoaded: Promise<ClusterMetrics> | undefined
  const clusterMetrics = () =>
    (metricsLoaded ??= import('./cluster-metrics.js').then(
      ({ClusterMetrics}) =>
        (metrics = new ClusterMetrics({
          collect,
          now: options.now,
          own: options.ownMetrics,
          reuseMs: options.metricsReuseMs,
        })),
    ))

  const hand =
    (worker: Worker) =>
    (socket: Socket): Promise<boolean> =>
      new Promise((resolve) => {
        if (!worker.isConnected()) {
          resolve(false)
          return
        }
        worker.send({type: 'mlship:connection'} satisfies PrimaryMessage, socket, (error) => resolve(!error))
      })

  const fork = (index: number) => {
    const worker = cluster!.fork()
    children.set(index, worker)
    // A message to a process whose channel just closed (it is stopping) fails with EPIPE: its 'exit' follows and
    // says what happened; unheard, the error would crash this process.
    worker.on('error', (error) => logger?.debug({process: index, err: error.message}, 'message to a process failed'))
    worker.on('message', (message: unknown) => {
      if (!isChildMessage(message)) return
      switch (message.type) {
        case 'mlship:waiting':
          send(worker, {options: {...options.child, index}, type: 'mlship:start'})
          break
        case 'mlship:warm':
          if (phase === 'stopping') break
          warm.add(index)
          options.connections.add(index, {hand: hand(worker)})
          if (warm.size === total) {
            clusterMetrics().catch(() => undefined)
            everyWarm()
          }
          break
        case 'mlship:failed':
          fatal(`serving process ${index} failed to start: ${message.error.message}`)
          break
        case 'mlship:collected': {
          const entry = collections.get(message.id)
          if (!entry) break
          entry.snapshots.set(worker, [index, message.metrics])
          entry.waiting.delete(worker)
          if (entry.waiting.size === 0) entry.done()
          break
        }
        case 'mlship:metrics':
          clusterMetrics()
            .then((loaded) => loaded.render())
            .then(
              (text) => send(worker, {id: message.id, text, type: 'mlship:metrics'}),
              (error: unknown) => send(worker, {error: String(error), id: message.id, type: 'mlship:metrics'}),
            )
          break
      }
    })
    worker.on('exit', (code, signal) => {
      if (children.get(index) === worker) children.delete(index)
      options.connections.remove(index)
      const wasWarm = warm.delete(index)
      metrics?.retire(index)
      for (const entry of collections.values()) {
        // Its counters now stand as an offset (ClusterMetrics.retire): an answer of it would count twice.
        entry.snapshots.delete(worker)
        if (entry.waiting.delete(worker) && entry.waiting.size === 0) entry.done()
      }
      if (phase === 'stopping') {
        if (code !== 0 && !startingWhenStopped.has(worker)) stopFailures++
        if (children.size === 0) stopped?.()
        return
      }
      const how = signal ? `signal ${signal}` : `exit code ${code}`
      const next = afterProcessExit({code, how, index, wasWarm})
      if (next.action === 'fatal') fatal(next.message)
      else if (next.action === 'replace') {
        logger?.error({process: index}, next.message)
        fork(index)
      } else logger?.warn({process: index}, next.message)
    })
  }

  // Serving on fewer processes than asked, for good, is worse than a restart by the supervisor (Kubernetes, a
  // restart policy): the cluster stops and this process exits 1.
  const fatal = (message: string) => {
    if (phase !== 'serving') return
    if (logger) logger.fatal({processes: total + 1}, `${message}; stopping the server (exit 1)`)
    else console.error(`${message}; stopping the server (exit 1)`)
    const exit = options.exit ?? ((code: number) => process.exit(code))
    void running
      .close()
      .catch(() => undefined)
      .then(() => exit(1))
  }

  let closing: Promise<void> | undefined
  const running: RunningCluster = {
    close: ({deadlineMs = SHUTDOWN_LIMIT_MS - 1000} = {}) => {
      closing ??= new Promise<void>((done, fail) => {
        phase = 'stopping'
        const kill = setTimeout(() => {
          for (const worker of children.values()) worker.process.kill('SIGKILL')
        }, deadlineMs + 1500)
        stopped = () => {
          clearTimeout(kill)
          if (stopFailures > 0) fail(new Error(`${stopFailures} of ${total} serving processes did not stop cleanly`))
          else done()
        }
        if (children.size === 0) stopped()
        for (const [index, worker] of children) {
          options.connections.remove(index)
          // One still starting serves nothing yet: stopped at once (a signal before its handlers are set kills it).
          if (!warm.has(index)) {
            startingWhenStopped.add(worker)
            worker.process.kill('SIGKILL')
          } else if (worker.isConnected()) worker.send({deadlineMs, type: 'mlship:stop'} satisfies PrimaryMessage)
          else worker.process.kill('SIGTERM')
        }
      })
      return closing
    },
    allWarm: () => allWarm,
    metrics: () => clusterMetrics().then((loaded) => loaded.render()),
    pids: () =>
      [...children.values()].flatMap((worker) => (worker.process.pid === undefined ? [] : [worker.process.pid])),
    processes: total,
  }
  void (options.startAfter ?? Promise.resolve())
    .then(() => {
      if (phase === 'stopping') return
      // required, not import()ed: the image runs this module in a CommonJS bundle under vm.Script (code-cache.ts),
      // which has no dynamic import.
      const loaded = createRequire(import.meta.url)('node:cluster') as typeof import('node:cluster').default
      const moduleUrl = clusterChildModule()
      loaded.setupPrimary({
        args: moduleUrl.pathname.endsWith('.cjs') ? [CLUSTER_PROCESS_FLAG] : [],
        exec: fileURLToPath(moduleUrl),
        // From the TypeScript sources (tsx, vitest) the processes load tsx's loader; built, plain node.
        execArgv: moduleUrl.pathname.endsWith('.ts') ? ['--import', tsxLoader()] : [],
        silent: false,
      })
      cluster = loaded
      // Numbered from 2: the first process, the caller's, is 1.
      for (let index = 2; index < total + 2; index++) fork(index)
      if (total === 0) everyWarm()
    })
    .catch((error: unknown) => fatal(`the cluster's other processes could not be started: ${String(error)}`))
  return running
}

export interface ProcessExit {
  index: number
  code: number | null
  /** "exit code N" or "signal S". */
  how: string
  /** Whether it had been warm: a process that never was failed to start. */
  wasWarm: boolean
}

/**
 * What the first process does when a process it forked stops: replace a warm one that crashed; leave out one that
 * exited 0 (it was told to stop: a signal to the whole process group, its IPC channel gone); and give up (exit 1) when
 * one failed to start (a crash at start-up would loop).
 */
export function afterProcessExit(exit: ProcessExit): {action: 'replace' | 'not-replaced' | 'fatal'; message: string} {
  const stopped = `serving process ${exit.index} stopped (${exit.how})`
  if (!exit.wasWarm) return {action: 'fatal', message: `${stopped} before it was warm: not replaced`}
  if (exit.code === 0) return {action: 'not-replaced', message: `${stopped}, cleanly: not replaced`}
  return {action: 'replace', message: `${stopped}; it is being replaced`}
}

/**
 * What tells the image's server.cjs (image-server.ts) that it runs as a forked process of the cluster, not as PID 1.
 */
export const CLUSTER_PROCESS_FLAG = '--mlship-cluster-process'

/**
 * The forked processes' entry: in the image, server.cjs (the bundle's CommonJS loader, which runs the whole server with
 * V8's code cache, image-server.ts) with CLUSTER_PROCESS_FLAG; from the sources or dist/, cluster-child-entry.
 */
function clusterChildModule(): URL {
  const bundled = new URL('./server.cjs', import.meta.url)
  return existsSync(bundled) ? bundled : siblingModule(import.meta.url, 'cluster-child-entry')
}

function tsxLoader(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
}
