import type {Worker} from 'node:worker_threads'

import {siblingModule, startModuleWorker} from '../worker-thread.js'
import type {BodyKind, DecodedRequest, DecodeJob, DecodeReply, DecodeWorkerData} from './decode-protocol.js'
import {RequestError} from './request-error.js'
import type {TensorMap} from './tensors.js'

export interface DecodePoolOptions extends DecodeWorkerData {
  /** Decode threads. */
  threads: number
  /** Where the worker script is; beside this module by default. */
  workerUrl?: URL
}

interface Pending {
  resolve: (decoded: DecodedRequest) => void
  reject: (error: Error) => void
}

interface Thread {
  worker: Worker
  jobs: Map<number, Pending>
}

/** What the server needs of a decoder of large bodies (the pool below; tests wrap it). */
export interface BodyDecoder {
  decode(kind: BodyKind, body: Buffer): Promise<DecodedRequest>
  /** The tensors of a request's images and texts (model.yaml's preprocess:), made in a decode thread. */
  preprocess?(rows: Record<string, Array<Uint8Array | string>>): Promise<TensorMap>
  close(): Promise<void>
}

/**
 * Threads that parse and decode large request bodies off the event loop (see decode-worker.ts). A body goes to the
 * thread with the fewest bodies outstanding; each thread decodes one at a time, so at most `threads` bodies are being
 * parsed at once and the rest wait, their bytes already read.
 */
export class DecodePool implements BodyDecoder {
  private readonly threads: Thread[] = []
  private nextId = 1
  private closing = false

  private constructor(private readonly options: DecodePoolOptions) {}

  static async start(options: DecodePoolOptions): Promise<DecodePool> {
    const pool = new DecodePool(options)
    await pool.spawnAll()
    return pool
  }

  /**
   * A pool whose threads start with the first body it is given, not before: a model without preprocessing may never
   * get a large body, and each thread loads its own copy of the decoding code, time a cold start need not spend. The
   * first body waits for its thread to come online (its message is queued meanwhile).
   */
  static lazy(options: DecodePoolOptions): DecodePool {
    return new DecodePool(options)
  }

  /** Whether the threads have been started (at once by start(), with the first body by lazy()). */
  get started(): boolean {
    return this.threads.length > 0
  }

  /** Bodies being decoded or waiting for a thread. */
  get pending(): number {
    let n = 0
    for (const thread of this.threads) n += thread.jobs.size
    return n
  }

  /** The tensors of a body, or the RequestError (400, ...) it would get on the event loop. */
  decode(kind: BodyKind, body: Buffer): Promise<DecodedRequest> {
    const bytes = ownBuffer(body)
    return this.send((id) => ({body: bytes, id, kind}), [bytes.buffer as ArrayBuffer])
  }

  /**
   * Images decoded (sharp, on the thread's libuv pool), resized and normalised, and texts tokenised, in a decode
   * thread: the resampling and the tokenizer are JavaScript, milliseconds of CPU per image or long text that the event
   * loop would otherwise spend.
   */
  async preprocess(rows: Record<string, Array<Uint8Array | string>>): Promise<TensorMap> {
    const transfer: ArrayBuffer[] = []
    const owned: Record<string, Array<Uint8Array | string>> = {}
    for (const [name, values] of Object.entries(rows)) {
      owned[name] = values.map((value) => {
        if (typeof value === 'string') return value
        const bytes = ownBuffer(value)
        transfer.push(bytes.buffer as ArrayBuffer)
        return bytes
      })
    }
    return (await this.send((id) => ({id, kind: 'preprocess', rows: owned}), transfer)).feeds
  }

  private send(job: (id: number) => DecodeJob, transfer: ArrayBuffer[]): Promise<DecodedRequest> {
    if (this.closing) return Promise.reject(new Error('the decode threads are stopping'))
    if (!this.started) {
      try {
        // A thread that fails once started rejects its jobs on exit and is replaced (spawn): nothing to handle here.
        void this.spawnAll().catch(() => undefined)
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)))
      }
    }
    let thread = this.threads[0]!
    for (const other of this.threads) if (other.jobs.size < thread.jobs.size) thread = other
    const id = this.nextId++
    return new Promise<DecodedRequest>((resolve, reject) => {
      thread.jobs.set(id, {reject, resolve})
      thread.worker.postMessage(job(id), transfer)
    })
  }

  async close(): Promise<void> {
    this.closing = true
    await Promise.all(this.threads.map((thread) => thread.worker.terminate()))
  }

  private spawnAll(): Promise<void> {
    const spawning = Array.from({length: this.options.threads}, (_, index) => this.spawn(index))
    return Promise.all(spawning).then(() => undefined)
  }

  private spawn(index: number): Promise<void> {
    const url = this.options.workerUrl ?? siblingModule(import.meta.url, 'decode-worker')
    const data: DecodeWorkerData = {
      limits: this.options.limits,
      modelDir: this.options.modelDir,
      outputNames: this.options.outputNames,
      signature: this.options.signature,
    }
    const worker = startModuleWorker(url, {name: `mlship-decode-${index}`, workerData: data})
    const thread: Thread = {jobs: new Map(), worker}
    this.threads[index] = thread
    worker.on('message', (reply: DecodeReply) => {
      const pending = thread.jobs.get(reply.id)
      if (!pending) return
      thread.jobs.delete(reply.id)
      if ('decoded' in reply) pending.resolve(reply.decoded)
      else if (reply.error.statusCode < 500)
        pending.reject(new RequestError(reply.error.statusCode, reply.error.message))
      else pending.reject(new Error(`decoding the request failed: ${reply.error.message}`))
    })
    let lastError: string | undefined
    worker.on('error', (error) => (lastError = error.message))
    worker.on('exit', (code) => {
      const jobs = [...thread.jobs.values()]
      thread.jobs.clear()
      for (const job of jobs)
        job.reject(
          new Error(`the decode thread stopped unexpectedly (exit code ${code})${lastError ? `: ${lastError}` : ''}`),
        )
      // Replaced at once: the next large body must find a thread.
      if (!this.closing) void this.spawn(index).catch(() => undefined)
    })
    return new Promise<void>((resolve, reject) => {
      worker.once('online', () => resolve())
      worker.once('error', reject)
    })
  }
}

/**
 * The bytes, in a buffer of their own that can move to a thread: the same buffer (no copy) when they are all of it, as
 * a large body is; a copy when they share it (Node's pooled small buffers, a multipart file's slice).
 */
function ownBuffer(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
    ? new Uint8Array(bytes.buffer)
    : Uint8Array.from(bytes)
}
