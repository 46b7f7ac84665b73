import cluster, {type Worker} from 'node:cluster'
import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath, pathToFileURL} from 'node:url'

import type {Logger} from 'pino'

import {MlshipError, type ExitCodeValue} from '../errors.js'
import type {MetricsSnapshot} from '../monitoring/metrics.js'
import {siblingModule} from '../worker-thread.js'
import type {ClusterMetrics} from './cluster-metrics.js'
import {type ChildFailure, type ClusterChildOptions, isChildMessage, type PrimaryMessage} from './cluster-protocol.js'
import {SHUTDOWN_LIMIT_MS} from './shutdown.js'

export interface ForkClusterOptions {
  processes: number
  /** The primary's own lines: a process that stops, a replacement. */
  logger?: Logger
  /** How long the primary waits for a process to send its metrics before it answers without them (ms). */
  collectTimeoutMs?: number
  /** How long one aggregation answers every GET /metrics (ms): concurrent scrapes share one. Default 1000. */
  metricsReuseMs?: number
  /** Ends the primary once the cluster cannot serve any more (default process.exit). */
  exit?: (code: number) => void
  now?: () => number
}

export interface RunningCluster {
  /** The port the processes share (the one picked when 0 was asked for). */
  port: number
  processes: number
  /**
   * Graceful, for every process at once: each drains as a single server does (RunningServer.close) within
   * `deadlineMs`; a process still running 1.5 s after that is killed. Rejects when a process did not stop cleanly.
   */
  close(options?: {deadlineMs?: number}): Promise<void>
  /** The whole cluster's metrics in the Prometheus text format (what GET /metrics answers on any process). */
  metrics(): Promise<string>
  /** The process ids of the HTTP processes running now. */
  pids(): number[]
  /** Resolves once every process has been warm (start() resolves once the first is: the others join it). */
  allWarm(): Promise<void>
}

/** Processes forked ahead of their options: see forkCluster. */
export interface ClusterLaunch {
  /**
   * Sends every process its options; resolves once the first is warm and serving (each process listens only once warm,
   * and its readiness turns 200 then). The others join it as they get warm (RunningCluster.allWarm).
   */
  start(child: Omit<ClusterChildOptions, 'index'>): Promise<RunningCluster>
  /** Kills the processes: the layout turned out single. */
  cancel(): void
  /**
   * The first measurement a process sends (started with `measure`): its single-row inference time in ms, undefined
   * where the model failed on its warm-up input. Rejects as start() does when a process fails first.
   */
  rowCost(): Promise<number | undefined>
  /** The layout is the cluster: the processes that measured go on to serve (those forked later do not measure). */
  proceed(): void
  /** The primary's own lines go to `logger` from now on (made after the fork: pino is not on the way to them). */
  logTo(logger: Logger): void
}

/**
 * The cluster layout (layout.ts): forks `processes` HTTP processes (cluster-child.ts) that share one port: the first at
 * once, alone, with a CPU to itself (it measures the model when the layout is still to be chosen, and the cluster is
 * ready once it is warm: start() resolves), the others once it is warm. Each loads its code and waits for its options
 * (start()). The primary serves no request: it forwards connections (node:cluster), aggregates the metrics
 * (prom-client's AggregatorRegistry) for the process whose GET /metrics asks, replaces a process that dies, and stops
 * them all on close().
 */
export function forkCluster(options: ForkClusterOptions): ClusterLaunch {
  const moduleUrl = clusterChildModule()
  cluster.setupPrimary({
    args: [],
    exec: fileURLToPath(moduleUrl),
    // From the TypeScript sources (tsx, vitest) the processes load tsx's loader; built, plain node.
    execArgv: moduleUrl.pathname.endsWith('.ts') ? ['--import', tsxLoader()] : [],
    silent: false,
  })
  let logger = options.logger
  const total = options.processes
  let childOptions: Omit<ClusterChildOptions, 'index'> | undefined
  const waiting = new Map<number, Worker>()
  const children = new Map<number, Worker>()
  const warm = new Set<number>()
  const collections = new Map<
    number,
    {waiting: Set<Worker>; snapshots: Map<Worker, [number, MetricsSnapshot]>; done: () => void}
  >()
  let phase: 'starting' | 'ready' | 'stopping' = 'starting'
  let proceeding = false
  const held = new Set<Worker>()
  let measured!: {resolve: (rowCostMs: number | undefined) => void; reject: (error: Error) => void}
  const firstMeasurement = new Promise<number | undefined>((resolve, reject) => (measured = {reject, resolve}))
  firstMeasurement.catch(() => undefined)
  let port: number | undefined
  let nextCollection = 0
  let stopFailures = 0
  let stopped: (() => void) | undefined
  let forkRest = (): void => undefined
  const startingWhenStopped = new Set<Worker>()
  let everyWarm!: () => void
  const allWarm = new Promise<void>((resolve) => (everyWarm = resolve))

  const send = (worker: Worker, message: PrimaryMessage) => {
    if (worker.isConnected()) worker.send(message)
  }
  // A process started once the layout is chosen (a sibling, a replacement) has nothing to measure.
  const optionsFor = (index: number): ClusterChildOptions => ({
    ...childOptions!,
    index,
    ...(proceeding ? {measure: false} : {}),
  })

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
  // Loaded once the processes are ready (or asked for before): prom-client, and the HTTP modules it loads, would
  // compete with their start for the CPUs.
  let metrics: ClusterMetrics | undefined
  let metricsLoaded: Promise<ClusterMetrics> | undefined
  const clusterMetrics = () =>
    (metricsLoaded ??= import('./cluster-metrics.js').then(
      ({ClusterMetrics, primaryProcessMetrics}) =>
        (metrics = new ClusterMetrics({
          collect,
          now: options.now,
          own: primaryProcessMetrics(),
          reuseMs: options.metricsReuseMs,
        })),
    ))

  let resolve!: (running: RunningCluster) => void
  let reject!: (error: Error) => void
  const started = new Promise<RunningCluster>((resolveStart, rejectStart) => {
    resolve = resolveStart
    reject = rejectStart
  })
  // A process that dies before start() is called rejects `started` with nobody awaiting it yet.
  started.catch(() => undefined)
  {
    const failStart = (error: Error) => {
      if (phase !== 'starting') return
      phase = 'stopping'
      for (const worker of children.values()) worker.process.kill('SIGKILL')
      reject(error)
      measured.reject(error)
    }

    const fork = (index: number) => {
      const worker = cluster.fork()
      children.set(index, worker)
      worker.on('listening', (address) => (port ??= address.port))
      // A message to a process whose channel just closed (it is stopping) fails with EPIPE: its 'exit' follows and
      // says what happened; unheard, the error would crash the primary.
      worker.on('error', (error) => logger?.debug({process: index, err: error.message}, 'message to a process failed'))
      worker.on('message', (message: unknown) => {
        if (!isChildMessage(message)) return
        switch (message.type) {
          case 'mlship:waiting':
            if (childOptions) send(worker, {options: optionsFor(index), type: 'mlship:start'})
            else waiting.set(index, worker)
            break
          case 'mlship:measured':
            measured.resolve(message.rowCostMs)
            if (proceeding) send(worker, {type: 'mlship:proceed'})
            else held.add(worker)
            break
          case 'mlship:warm':
            warm.add(index)
            if (phase === 'stopping') break
            // It listens only once warm: it serves from now on, whatever its siblings do.
            send(worker, {type: 'mlship:ready'})
            if (phase === 'starting') {
              phase = 'ready'
              forkRest()
              resolve(running())
            }
            if (warm.size === total) {
              // prom-client, and the HTTP modules it loads, would compete with their start for the CPUs.
              clusterMetrics().catch(() => undefined)
              everyWarm()
            }
            break
          case 'mlship:failed':
            if (phase === 'starting') failStart(childError(message.error))
            else if (phase === 'ready') fatal(`serving process ${index} failed to start: ${message.error.message}`)
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
        if (phase === 'starting') {
          failStart(new MlshipError(`serving process ${index} of ${total} stopped before it was ready (${how})`))
          return
        }
        if (phase !== 'ready') return
        const next = afterProcessExit({code, how, index, left: children.size, wasWarm})
        if (next.action === 'fatal') fatal(next.message)
        else if (next.action === 'replace') {
          logger?.error({process: index}, next.message)
          fork(index)
        } else logger?.warn({process: index}, next.message)
      })
    }

    // Serving on fewer processes than asked, for good, is worse than a restart by the supervisor (Kubernetes, a
    // restart policy): the primary stops the rest and exits 1.
    const fatal = (message: string) => {
      if (phase !== 'ready') return
      if (logger) logger.fatal({processes: total}, `${message}; stopping the server (exit 1)`)
      else console.error(`${message}; stopping the server (exit 1)`)
      const exit = options.exit ?? ((code: number) => process.exit(code))
      void running()
        .close()
        .catch(() => undefined)
        .then(() => exit(1))
    }

    let closing: Promise<void> | undefined
    const running = (): RunningCluster => ({
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
      port: port ?? childOptions?.port ?? 0,
      processes: total,
    })

    let forked = 0
    const forkUpTo = (count: number) => {
      while (forked < Math.min(total, count)) fork(++forked)
    }
    forkUpTo(1)
    forkRest = () => forkUpTo(total)
  }
  return {
    cancel: () => {
      phase = 'stopping'
      for (const worker of children.values()) worker.process.kill('SIGKILL')
    },
    proceed: () => {
      if (proceeding) return
      proceeding = true
      for (const worker of held) send(worker, {type: 'mlship:proceed'})
      held.clear()
    },
    logTo: (next) => {
      logger = next
    },
    rowCost: () => firstMeasurement,
    start: (child) => {
      childOptions = child
      for (const [index, worker] of waiting) send(worker, {options: optionsFor(index), type: 'mlship:start'})
      waiting.clear()
      return started
    },
  }
}

export interface ProcessExit {
  index: number
  code: number | null
  /** "exit code N" or "signal S". */
  how: string
  /** Whether it had been warm: a process that never was is a replacement that failed to start. */
  wasWarm: boolean
  /** HTTP processes still running. */
  left: number
}

/**
 * What the primary of a ready cluster does when one of its processes stops: replace a warm one that crashed; leave
 * out one that exited 0 (it was told to stop: a signal to the whole process group, its IPC channel gone); and give up
 * (exit 1) when a replacement failed to start (a crash at start-up would loop) or no process is left.
 */
export function afterProcessExit(exit: ProcessExit): {action: 'replace' | 'not-replaced' | 'fatal'; message: string} {
  const stopped = `serving process ${exit.index} stopped (${exit.how})`
  if (!exit.wasWarm) return {action: 'fatal', message: `${stopped} before it was warm: not replaced`}
  if (exit.code === 0) {
    if (exit.left === 0) return {action: 'fatal', message: `${stopped}, cleanly, and no serving process is left`}
    return {action: 'not-replaced', message: `${stopped}, cleanly: not replaced`}
  }
  return {action: 'replace', message: `${stopped}; it is being replaced`}
}

function childError(failure: ChildFailure): MlshipError {
  return new MlshipError(failure.message, {
    code: failure.code ?? 'SERVER_START_FAILED',
    details: failure.details,
    exitCode: (failure.exitCode ?? 1) as ExitCodeValue,
    suggestions: failure.suggestions,
  })
}

/**
 * The HTTP processes' entry: in the image's bundle, cluster-child.cjs (CommonJS, which starts without node's ES module
 * loader, and runs the code with V8's code cache: code-cache.ts); from the sources or dist/, cluster-child itself.
 */
function clusterChildModule(): URL {
  const bundled = new URL('./cluster-child.cjs', import.meta.url)
  return existsSync(bundled) ? bundled : siblingModule(import.meta.url, 'cluster-child')
}

function tsxLoader(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
}
