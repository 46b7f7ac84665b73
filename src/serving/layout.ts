import {ExitCode, MlshipError} from '../errors.js'

/**
 * How a server uses the machine's CPUs, chosen at start-up from the model's measured cost:
 * - `single`: one process, one event loop for HTTP, inference on a pool of worker threads behind the dynamic batcher.
 *   Right when an inference costs more than the request path around it: batches amortise it, and the event loop
 *   never blocks on it (/health stays fast).
 * - `cluster`: `processes` HTTP processes behind node:cluster sharing the port, each with its own in-process
 *   onnxruntime session. Right for a cheap model, whose cost is the request path (HTTP parsing, validation, metrics,
 *   logs) on one event loop: every core parses requests, and the hop to a worker thread is saved.
 */
export type ServingLayout = {kind: 'single'; reason: string} | {kind: 'cluster'; processes: number; reason: string}

export type LayoutSetting = 'auto' | 'single' | 'cluster'

/**
 * A single-row inference at or under this is cheaper than the request path around it (about 0.06 ms on one core at
 * 16k req/s): moving it to a worker thread saves the event loop less than the hop costs, and a batch of such rows
 * gains little. The iris example measures 0.015 ms, the digits MLP 0.22 ms (it keeps its batcher: 5x).
 */
export const CHEAP_ROW_MS = 0.1

export interface LayoutInput {
  /** MLSHIP_SERVING_LAYOUT (or the caller's option): 'auto' decides from the measurement. */
  setting: LayoutSetting
  /** The CPUs the process may use (usableCpus: cgroup-aware). */
  cpus: number
  /** MLSHIP_SERVING_PROCESSES: the cluster's size instead of one process per usable CPU. */
  processes?: number
  /** The median time of one single-row inference in this thread, in ms; undefined when it was not measured. */
  rowCostMs?: number
  device: 'cpu' | 'cuda'
  /** What keeps a model on one process whatever it costs (an experiment, a prediction log file, ...). */
  singleOnly?: string
  /** The model file's size in bytes: one over MEASURE_MAX_BYTES is not opened to be timed (see needsMeasurement). */
  modelBytes?: number
}

/**
 * Model files over this are not opened and timed at start-up: the measurement opens the model a second time before
 * the server opens it, which for a large model nearly doubles the time to /ready, and a model this large is not one
 * whose single-row inference takes 0.1 ms (the iris example is 1 KiB, the digits MLP, at 0.22 ms, under 100 KiB).
 */
export const MEASURE_MAX_BYTES = 16 * 1024 * 1024

/** The layout for `input`: see ServingLayout. Pure: the measurement and the CPU count come in. */
export function chooseLayout(input: LayoutInput): ServingLayout {
  const processes = input.processes ?? input.cpus
  if (input.setting === 'single') return {kind: 'single', reason: 'MLSHIP_SERVING_LAYOUT=single'}
  if (input.setting === 'cluster') {
    if (input.device === 'cuda')
      throw layoutError('the cluster layout runs inference on the CPU; this server uses cuda')
    if (input.singleOnly) throw layoutError(`the cluster layout is not possible here: ${input.singleOnly}`)
    return {kind: 'cluster', processes, reason: 'MLSHIP_SERVING_LAYOUT=cluster'}
  }
  if (input.device === 'cuda') return {kind: 'single', reason: 'inference runs on the GPU'}
  if (input.singleOnly) return {kind: 'single', reason: input.singleOnly}
  if (processes < 2) return {kind: 'single', reason: `${input.cpus} usable CPU`}
  if (tooLargeToMeasure(input.modelBytes))
    return {kind: 'single', reason: `the model file is over ${MEASURE_MAX_BYTES / 1024 / 1024} MiB: not a cheap model`}
  if (input.rowCostMs === undefined) return {kind: 'single', reason: 'the inference cost was not measured'}
  const cost = `a single-row inference takes ${formatMs(input.rowCostMs)} ms`
  if (input.rowCostMs > CHEAP_ROW_MS)
    return {kind: 'single', reason: `${cost} (over ${CHEAP_ROW_MS} ms): inference workers and the batcher`}
  return {kind: 'cluster', processes, reason: `${cost} (at most ${CHEAP_ROW_MS} ms): one HTTP process per CPU`}
}

/**
 * Whether start-up must open the model and time a single-row inference to choose: only under `auto`, when the
 * cluster is possible, and for a model file small enough to be a cheap model (MEASURE_MAX_BYTES).
 */
export function needsMeasurement(input: Omit<LayoutInput, 'rowCostMs'>): boolean {
  return input.setting === 'auto' && chooseLayout({...input, rowCostMs: 0}).kind === 'cluster'
}

function tooLargeToMeasure(modelBytes: number | undefined): boolean {
  return modelBytes !== undefined && modelBytes > MEASURE_MAX_BYTES
}

/** MLSHIP_SERVING_LAYOUT and MLSHIP_SERVING_PROCESSES, checked. */
export function layoutSettings(env: NodeJS.ProcessEnv): {setting: LayoutSetting; processes?: number} {
  const raw = env.MLSHIP_SERVING_LAYOUT?.trim().toLowerCase() || 'auto'
  if (raw !== 'auto' && raw !== 'single' && raw !== 'cluster') {
    throw new MlshipError(`MLSHIP_SERVING_LAYOUT="${env.MLSHIP_SERVING_LAYOUT}" is not a layout`, {
      code: 'LAYOUT_INVALID',
      exitCode: ExitCode.usage,
      suggestions: ['Use auto (the default: chosen from the model cost measured at start-up), single or cluster.'],
    })
  }
  const processesText = env.MLSHIP_SERVING_PROCESSES?.trim()
  if (!processesText) return {setting: raw}
  const processes = Number(processesText)
  if (!Number.isInteger(processes) || processes < 1 || processes > 256) {
    throw new MlshipError(`MLSHIP_SERVING_PROCESSES="${processesText}" is not a process count`, {
      code: 'LAYOUT_INVALID',
      exitCode: ExitCode.usage,
      suggestions: ['Use a whole number from 1 to 256, or leave it unset (one process per usable CPU).'],
    })
  }
  return {processes, setting: raw}
}

/**
 * One process's share of a limit that the cluster holds as a whole (serving.max_queue): the limit divided among the
 * processes, rounded up, at least 1. The kernel spreads connections evenly enough that the sum behaves like the one
 * limit under many clients; one client's few connections may meet a process's share before the whole limit.
 */
export function shareOf(limit: number, processes: number): number {
  return Math.max(1, Math.ceil(limit / processes))
}

/**
 * One cluster process's limits. serving.max_queue is shared out (limit / processes, see shareOf): each process
 * protects its own event loop. serving.auth.rate_limit is not: the kernel spreads connections, not requests, so a
 * keep-alive client's one connection reaches one process, which must allow the key its whole rate and burst. A key
 * spread over many connections can therefore reach up to `processes` times its rate (README, serving layouts).
 */
export function processLimits<T extends {config: {serving: {max_queue: number}}}>(project: T, processes: number): T {
  const serving = project.config.serving
  return {
    ...project,
    config: {...project.config, serving: {...serving, max_queue: shareOf(serving.max_queue, processes)}},
  }
}

/**
 * The median of `runs` timed calls of `run` (one untimed call first: lazy initialisation), stopping early once
 * `budgetMs` have passed; in ms, per row of the input.
 */
export async function measureRowCost(
  run: () => Promise<unknown>,
  options: {rows: number; runs?: number; budgetMs?: number; now?: () => number},
): Promise<number> {
  const now = options.now ?? (() => performance.now())
  const runs = options.runs ?? 25
  const budget = options.budgetMs ?? 150
  await run()
  const times: number[] = []
  const started = now()
  while (times.length < runs) {
    const before = now()
    await run()
    const after = now()
    times.push(after - before)
    if (after - started >= budget) break
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]! / Math.max(1, options.rows)
}

function layoutError(message: string): MlshipError {
  return new MlshipError(message, {
    code: 'LAYOUT_UNAVAILABLE',
    exitCode: ExitCode.usage,
    suggestions: ['Unset MLSHIP_SERVING_LAYOUT (auto picks the layout), or set it to single.'],
  })
}

function formatMs(ms: number): string {
  return ms < 0.01 ? ms.toFixed(4) : ms < 1 ? ms.toFixed(3) : ms.toFixed(1)
}
