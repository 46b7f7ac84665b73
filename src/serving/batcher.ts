import type {Dimension} from '../config/schema.js'
import {isDynamic} from '../model/signature.js'
import {DeadlineExceededError, QueueFullError, queueFull, type Refusal} from './admission.js'
import {RequestError} from './request-error.js'
import type {HostTensor, TensorData, TensorMap} from './tensors.js'

type BatchTensor = HostTensor
type BatchFeeds = TensorMap

/** The inference seam the batcher wraps (the worker pool): run one set of feeds, get the outputs. */
export interface BatchRunner {
  run(feeds: TensorMap, options?: {outputs?: readonly string[]}): Promise<TensorMap>
}

export interface BatchStats {
  rows: number
  requests: number
  durationMs: number
}

export interface BatcherOptions {
  runner: BatchRunner
  /** Inferences the runner can execute at once (its worker threads). */
  concurrency: number
  /**
   * Inferences handed to each worker beyond the one it runs, so that it starts the next the moment it finishes instead
   * of idling while the event loop, busy with HTTP, gets round to sending it more. Default: 1 (a batch) with batching,
   * 3 (single requests) without.
   */
  pipeline?: number
  /** Requests that may wait for a worker; past it `submit` rejects at once with QueueFullError (503). */
  maxQueue: number
  /** Refuse (503) when the expected wait for a worker is longer than this, in ms. */
  maxQueueDelayMs?: number
  /** Deadline of a request, from its arrival; past it `submit` rejects with DeadlineExceededError (504). */
  timeoutMs: number
  /** Merge requests into batches (only where every input's and output's first dimension is dynamic), or not. */
  batching: false | {maxBatchSize: number; maxDelayMs: number}
  now?: () => number
  onBatch?: (stats: BatchStats) => void
  /** Called once when batching is turned off at run time because the model's outputs do not split by rows. */
  onBatchingDisabled?: (reason: string) => void
}

export interface SubmitOptions {
  /** This request's own deadline in ms from now, where shorter than the default. */
  timeoutMs?: number
  /** Output names to compute (all when undefined); only requests asking for the same outputs share a batch. */
  outputs?: readonly string[]
  /** Aborts the wait: a queued request leaves the queue (the client went away). */
  signal?: AbortSignal
}

interface Pending {
  readonly feeds: BatchFeeds
  readonly outputs: readonly string[] | undefined
  readonly rows: number
  /** Requests with the same key can be concatenated along axis 0; null for a request that always runs alone. */
  key: string | null
  readonly arrival: number
  resolve: (outputs: BatchFeeds) => void
  /** Always called with an Error (see fail). */
  reject: (error: Error) => void
  timer: NodeJS.Timeout | undefined
  state: 'queued' | 'running' | 'done'
}

const EWMA_WEIGHT = 0.2

/**
 * The dynamic batcher and admission queue in front of the inference workers.
 *
 * Work-conserving: a request is never held while a worker is idle. Requests that arrive in the same event-loop turn
 * are dispatched together (spread over the idle workers); requests only accumulate while every worker is busy (and
 * has its next batch staged, see `pipeline`), and the moment a slot frees up the next batch takes everything
 * compatible that is waiting, up to `max_batch_size` rows. So the wait adapts to the measured cost of a batch by
 * construction: under light traffic it is zero, under heavy traffic it is about one batch latency, and the batch
 * grows with the load. The one deliberate wait: while every worker is busy, the staged batch stays open for more
 * requests until `max_delay_ms` after its oldest one or until the running batch should end (the moving average of
 * batch latency says when), whichever comes first; then it is handed over, so the worker starts it at once.
 *
 * Requests whose non-batch dimensions or element types differ are never merged: they form separate batches. If a
 * merged batch fails, each of its requests is run again alone, so one bad request cannot fail its neighbours.
 */
export class Batcher {
  private readonly queue: Pending[] = []
  private queuedRows = 0
  private running = 0
  private pumpScheduled = false
  private batchingOn: boolean
  private ewmaBatchMs: number | undefined
  private ewmaRowMs: number | undefined
  private readonly now: () => number
  private readonly maxInFlight: number
  private readonly startedAt = new Set<number>()
  private readonly completions: number[] = []
  private holdTimer: NodeJS.Timeout | undefined

  constructor(private readonly options: BatcherOptions) {
    this.batchingOn = options.batching !== false
    this.now = options.now ?? (() => performance.now())
    this.maxInFlight = options.concurrency * (1 + (options.pipeline ?? (this.batchingOn ? 1 : 3)))
  }

  /** Requests waiting for a worker. */
  get queued(): number {
    return this.queue.length
  }

  /** Inferences running now. */
  get inFlight(): number {
    return this.running
  }

  get batching(): boolean {
    return this.batchingOn
  }

  /** Moving averages of the cost of one batch and of one row, in ms (undefined before the first batch). */
  get cost(): {batchMs: number | undefined; rowMs: number | undefined} {
    return {batchMs: this.ewmaBatchMs, rowMs: this.ewmaRowMs}
  }

  /** Expected time a request arriving now waits before its inference starts. */
  expectedWaitMs(): number {
    const rowMs = this.ewmaRowMs ?? 1
    const busy = this.running >= this.options.concurrency ? (this.ewmaBatchMs ?? rowMs) / 2 : 0
    return busy + (this.queuedRows * rowMs) / this.options.concurrency
  }

  /** Why a request arriving now would be refused, if the queue is full (checked before any work is spent on it). */
  refusal(): Refusal | undefined {
    const {maxQueueDelayMs} = this.options
    // Requests queued in this event-loop turn that the next pump hands to a free slot at once are not waiting.
    const limits = this.options.batching
    const freeSlots =
      Math.max(0, this.maxInFlight - this.running) * (limits === false || !this.batchingOn ? 1 : limits.maxBatchSize)
    const waiting = Math.max(0, this.queue.length - freeSlots)
    const full = waiting >= this.options.maxQueue
    if (!full && (maxQueueDelayMs === undefined || waiting === 0)) return undefined
    const expectedMs = this.expectedWaitMs()
    if (!full && expectedMs <= maxQueueDelayMs!) return undefined
    return queueFull(
      waiting,
      this.options.maxQueue,
      expectedMs,
      full ? undefined : {expectedMs, limitMs: maxQueueDelayMs!},
    )
  }

  submit(feeds: BatchFeeds, options: SubmitOptions = {}): Promise<BatchFeeds> {
    const refused = this.refusal()
    if (refused) return Promise.reject(new QueueFullError(refused))
    const timeoutMs = Math.min(options.timeoutMs ?? this.options.timeoutMs, this.options.timeoutMs)
    const {signal} = options
    if (signal?.aborted) return Promise.reject(abortError())
    return new Promise<BatchFeeds>((resolve, reject) => {
      const shape = batchShape(feeds)
      const key = this.batchingOn && shape.key !== null ? `${shape.key}>${options.outputs?.join(',') ?? '*'}` : null
      const entry: Pending = {
        arrival: this.now(),
        feeds,
        key,
        outputs: options.outputs,
        reject,
        resolve,
        rows: shape.rows,
        state: 'queued',
        timer: undefined,
      }
      entry.timer = setTimeout(
        () =>
          this.abandon(entry, new DeadlineExceededError(timeoutMs, entry.state === 'queued' ? 'queued' : 'running')),
        timeoutMs,
      )
      // Only a request that can be aborted pays for the listener and the wrappers that take it off again.
      if (signal) {
        const onAbort = () => this.abandon(entry, abortError())
        signal.addEventListener('abort', onAbort, {once: true})
        entry.resolve = (outputs) => {
          signal.removeEventListener('abort', onAbort)
          resolve(outputs)
        }
        entry.reject = (error) => {
          signal.removeEventListener('abort', onAbort)
          reject(error)
        }
      }
      this.queue.push(entry)
      this.queuedRows += entry.rows
      this.schedulePump()
    })
  }

  /** Resolves once nothing is queued or running (graceful shutdown). */
  async drain(pollMs = 5): Promise<void> {
    while (this.queue.length > 0 || this.running > 0) await new Promise((resolve) => setTimeout(resolve, pollMs))
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return
    this.pumpScheduled = true
    // One event-loop turn at most: requests parsed in the same turn join one batch, and none waits for a timer.
    setImmediate(() => {
      this.pumpScheduled = false
      this.pump()
    })
  }

  private pump(): void {
    if (this.holdTimer) {
      clearTimeout(this.holdTimer)
      this.holdTimer = undefined
    }
    while (this.queue.length > 0 && this.running < this.maxInFlight) {
      if (this.running >= this.options.concurrency) {
        // Every worker is busy: the next batch is staged behind them. It may stay open a little for more requests to
        // join, but never past max_delay_ms after its oldest request, nor past the moment a worker should free up.
        const holdMs = this.stagingHoldMs()
        if (holdMs > 0) {
          this.holdTimer = setTimeout(() => this.pump(), holdMs)
          return
        }
      }
      // Spread over the idle workers; with none idle, the staged batch takes all.
      const idle = Math.max(1, this.options.concurrency - this.running)
      this.dispatch(this.take(idle))
    }
  }

  private stagingHoldMs(): number {
    const limits = this.options.batching
    const head = this.queue[0]!
    if (limits === false || head.key === null || this.queuedRows >= limits.maxBatchSize) return 0
    const now = this.now()
    const untilDelay = head.arrival + limits.maxDelayMs - now
    // The running batch started at the earliest finishes about one moving-average batch after it started; stage a
    // millisecond before that, so the worker never waits for the event loop.
    const earliestStart = Math.min(...this.startedAt)
    const untilFree = this.ewmaBatchMs === undefined ? untilDelay : earliestStart + this.ewmaBatchMs - 1 - now
    return Math.min(untilDelay, untilFree)
  }

  /** The next batch: the oldest request and the compatible ones after it, spread evenly over the idle workers. */
  private take(idleWorkers: number): Pending[] {
    const head = this.queue[0]!
    const limits = this.options.batching
    if (head.key === null || limits === false) return this.remove([head])

    const candidates: Pending[] = []
    let available = 0
    for (const entry of this.queue) {
      if (entry.key !== head.key) continue
      candidates.push(entry)
      available += entry.rows
    }
    const target = Math.max(head.rows, Math.min(limits.maxBatchSize, Math.ceil(available / idleWorkers)))
    const batch: Pending[] = []
    let rows = 0
    for (const entry of candidates) {
      if (rows + entry.rows > target) continue
      batch.push(entry)
      rows += entry.rows
      if (rows === target) break
    }
    return this.remove(batch)
  }

  private remove(batch: Pending[]): Pending[] {
    const taken = new Set(batch)
    let write = 0
    for (const entry of this.queue) if (!taken.has(entry)) this.queue[write++] = entry
    this.queue.length = write
    for (const entry of batch) {
      this.queuedRows -= entry.rows
      entry.state = 'running'
    }
    return batch
  }

  private dispatch(batch: Pending[]): void {
    this.running++
    let started = this.now()
    // Unique per batch in flight (a Set of start times tells when the earliest should finish).
    while (this.startedAt.has(started)) started += 1e-6
    this.startedAt.add(started)
    const rows = batch.reduce((sum, entry) => sum + entry.rows, 0)
    const feeds = batch.length === 1 ? batch[0]!.feeds : concatFeeds(batch.map((entry) => entry.feeds))
    let promise: Promise<BatchFeeds>
    try {
      const outputs = batch[0]!.outputs
      promise = this.options.runner.run(feeds, outputs ? {outputs} : undefined)
    } catch (error) {
      promise = Promise.reject(error instanceof Error ? error : new Error(String(error)))
    }
    promise
      .then(
        (outputs) => {
          const durationMs = this.serviceTime(started)
          this.learn(durationMs, rows)
          this.options.onBatch?.({durationMs, requests: batch.length, rows})
          if (batch.length === 1) {
            settle(batch[0]!, outputs)
            return
          }
          let parts: BatchFeeds[]
          try {
            parts = splitFeeds(
              outputs,
              batch.map((entry) => entry.rows),
            )
          } catch (error) {
            this.disableBatching((error as Error).message)
            this.retryAlone(batch)
            return
          }
          batch.forEach((entry, i) => settle(entry, parts[i]!))
        },
        (error: unknown) => {
          if (batch.length === 1) fail(batch[0]!, error)
          else this.retryAlone(batch)
        },
      )
      .finally(() => {
        this.running--
        this.startedAt.delete(started)
        this.pump()
      })
  }

  /** Puts the requests of a failed batch back at the front of the queue, each to run on its own. */
  private retryAlone(batch: Pending[]): void {
    const retry = batch.filter((entry) => entry.state === 'running')
    for (const entry of retry) {
      entry.key = null
      entry.state = 'queued'
      this.queuedRows += entry.rows
    }
    this.queue.unshift(...retry)
  }

  private disableBatching(reason: string): void {
    if (!this.batchingOn) return
    this.batchingOn = false
    for (const entry of this.queue) entry.key = null
    this.options.onBatchingDisabled?.(reason)
  }

  /**
   * How long the worker spent on a batch: from when it could start it (its dispatch, or the completion that freed a
   * worker, whichever is later: staged batches wait behind running ones) to its completion. Waiting in the pipeline
   * is not the cost of a batch; counting it would make the batcher think the model slower the busier it is.
   */
  private serviceTime(dispatchedAt: number): number {
    const now = this.now()
    const slots = this.options.concurrency
    const freedAt =
      this.completions.length >= slots ? this.completions[this.completions.length - slots]! : Number.NEGATIVE_INFINITY
    this.completions.push(now)
    if (this.completions.length > 4 * slots) this.completions.splice(0, this.completions.length - slots)
    return now - Math.max(dispatchedAt, freedAt)
  }

  private learn(durationMs: number, rows: number): void {
    const perRow = durationMs / Math.max(1, rows)
    this.ewmaBatchMs =
      this.ewmaBatchMs === undefined ? durationMs : this.ewmaBatchMs + EWMA_WEIGHT * (durationMs - this.ewmaBatchMs)
    this.ewmaRowMs = this.ewmaRowMs === undefined ? perRow : this.ewmaRowMs + EWMA_WEIGHT * (perRow - this.ewmaRowMs)
  }

  /** Takes a request out of the queue (or stops waiting for its running batch) and rejects it. */
  private abandon(entry: Pending, error: Error): void {
    if (entry.state === 'done') return
    if (entry.state === 'queued') {
      const index = this.queue.indexOf(entry)
      if (index !== -1) {
        this.queue.splice(index, 1)
        this.queuedRows -= entry.rows
      }
    }
    entry.state = 'done'
    clearTimeout(entry.timer)
    entry.reject(error)
  }
}

function abortError(): RequestError {
  return new RequestError(499, 'the client closed the request before the prediction finished')
}

function settle(entry: Pending, outputs: BatchFeeds): void {
  if (entry.state === 'done') return
  entry.state = 'done'
  clearTimeout(entry.timer)
  entry.resolve(outputs)
}

function fail(entry: Pending, error: unknown): void {
  if (entry.state === 'done') return
  entry.state = 'done'
  clearTimeout(entry.timer)
  entry.reject(error instanceof Error ? error : new Error(String(error)))
}

/**
 * Rows along the batch axis and the merge key of a request: input names, element types and every dimension but the
 * first. A request whose inputs disagree on the first dimension, or have none, gets no key: it runs alone.
 */
export function batchShape(feeds: BatchFeeds): {rows: number; key: string | null} {
  // Written out rather than with sort/slice/join: this runs for every request.
  const names = Object.keys(feeds)
  if (names.length > 1) names.sort()
  let rows: number | undefined
  let key = ''
  for (const name of names) {
    const tensor = feeds[name]!
    const {dims} = tensor
    if (dims.length === 0) return {key: null, rows: 1}
    const first = dims[0]!
    if (rows === undefined) rows = first
    else if (rows !== first) return {key: null, rows: Math.max(rows, first)}
    key += `${key === '' ? '' : '|'}${name}:${tensor.dtype}:`
    for (let axis = 1; axis < dims.length; axis++) key += axis === 1 ? `${dims[axis]}` : `x${dims[axis]}`
  }
  if (rows === undefined || rows === 0) return {key: null, rows: rows ?? 1}
  return {key, rows}
}

/** Concatenates requests along axis 0, input by input. */
export function concatFeeds(requests: readonly BatchFeeds[]): BatchFeeds {
  const out: Record<string, BatchTensor> = {}
  for (const name of Object.keys(requests[0]!)) out[name] = concatTensors(requests.map((feeds) => feeds[name]!))
  return out
}

function concatTensors(parts: readonly BatchTensor[]): BatchTensor {
  const first = parts[0]!
  let rows = 0
  let length = 0
  for (const part of parts) {
    rows += part.dims[0]!
    length += part.data.length
  }
  const dims = [rows, ...first.dims.slice(1)]
  if (ArrayBuffer.isView(first.data)) {
    const Ctor = (first.data as unknown as {constructor: new (length: number) => TypedArrayLike}).constructor
    const data = new Ctor(length)
    let offset = 0
    for (const part of parts) {
      data.set(part.data as unknown as ArrayLike<number>, offset)
      offset += part.data.length
    }
    return {data: data as unknown as TensorData, dims, dtype: first.dtype}
  }
  const data: string[] = []
  for (const part of parts) for (let i = 0; i < part.data.length; i++) data.push(part.data[i] as string)
  return {data, dims, dtype: first.dtype}
}

interface TypedArrayLike {
  set(values: ArrayLike<number>, offset: number): void
  slice(start: number, end: number): TypedArrayLike
}

/** Splits batch outputs back into one set per request; throws where an output's first dimension is not the batch. */
export function splitFeeds(outputs: BatchFeeds, rows: readonly number[]): BatchFeeds[] {
  const total = rows.reduce((sum, n) => sum + n, 0)
  const parts: Array<Record<string, BatchTensor>> = rows.map(() => ({}))
  for (const [name, tensor] of Object.entries(outputs)) {
    if (tensor.dims.length === 0 || tensor.dims[0] !== total) {
      throw new Error(
        `output "${name}" has shape [${tensor.dims.join(', ')}], not ${total} rows along axis 0, so a batch cannot be split back`,
      )
    }
    const rowSize = total === 0 ? 0 : tensor.data.length / total
    const rest = tensor.dims.slice(1)
    let row = 0
    rows.forEach((n, i) => {
      const start = row * rowSize
      const end = (row + n) * rowSize
      // A copy, not a view: a cached or logged result must not keep the whole batch's buffer alive.
      const data = (tensor.data as unknown as TypedArrayLike).slice(start, end) as unknown as TensorData
      parts[i]![name] = {data, dims: [n, ...rest], dtype: tensor.dtype}
      row += n
    })
  }
  return parts
}

/**
 * Whether requests for a model can be merged: every input and every output has a dynamic first dimension, and where
 * the input's batch dimension has a name, the outputs' first dimensions carry the same name (or none).
 */
export function canBatch(signature: {
  inputs: ReadonlyArray<{shape: readonly Dimension[]}>
  outputs: ReadonlyArray<{shape: readonly Dimension[]}>
}): {ok: true} | {ok: false; reason: string} {
  const firstDims = signature.inputs.map((t) => t.shape[0])
  if (firstDims.some((dim) => dim === undefined || !isDynamic(dim))) {
    return {ok: false, reason: 'an input has no dynamic first (batch) dimension'}
  }
  if (signature.outputs.some((t) => t.shape[0] === undefined || !isDynamic(t.shape[0]))) {
    return {ok: false, reason: 'an output has no dynamic first (batch) dimension'}
  }
  const named = new Set(firstDims.filter((dim): dim is string => typeof dim === 'string'))
  if (named.size > 1)
    return {ok: false, reason: `the inputs' first dimensions have different names (${[...named].join(', ')})`}
  const [batchName] = named
  if (batchName !== undefined) {
    const other = signature.outputs.find((t) => typeof t.shape[0] === 'string' && t.shape[0] !== batchName)
    if (other)
      return {
        ok: false,
        reason: `an output's first dimension is "${String(other.shape[0])}", not the batch dimension "${batchName}"`,
      }
  }
  return {ok: true}
}
