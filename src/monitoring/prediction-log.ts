import {constants as fsConstants, createWriteStream, type WriteStream} from 'node:fs'
import {access, mkdir, realpath} from 'node:fs/promises'
import path from 'node:path'

import {errorMessage, ExitCode, MlshipError} from '../errors.js'
import type {TensorMap} from './tensor.js'

export interface PredictionLogOptions {
  /** The log directory: MLSHIP_DATA_DIR (/var/lib/mlship in the image), else the model directory. */
  directory: string
  /** The JSONL file, relative to `directory` (monitoring.prediction_log.path); appended to, created where missing. */
  path: string
  /** Fraction of predictions written, 0..1. */
  sampleRate: number
  modelName: string
  modelVersion: string
  /** Called for each sampled prediction dropped because the disk is behind. */
  onDrop?: () => void
  /** Random numbers in [0, 1), replaceable in tests. */
  random?: () => number
}

export interface PredictionRecord {
  time: string
  model: string
  model_version: string
  request_id?: string
  inputs: Record<string, {shape: number[]; data: unknown[]}>
  outputs: Record<string, {shape: number[]; data: unknown[]}>
}

// Past this much unwritten data the log drops samples: it must never hold up serving or grow memory without bound.
const MAX_PENDING_BYTES = 8 * 1024 * 1024

/**
 * The sampled prediction log: one JSON line per sampled prediction (inputs, outputs, model version, time) for
 * offline analysis. Off by default (`monitoring.prediction_log.enabled`).
 */
export class PredictionLog {
  private constructor(
    private readonly stream: WriteStream,
    private readonly options: PredictionLogOptions,
  ) {}

  /**
   * Opens the log for appending, or says at once why it cannot be written (the server refuses to start rather than
   * fail on the first sampled prediction): a folder it may not write to (the image's model folder is root's), a
   * read-only file system, a symbolic link out of the log directory.
   */
  static async open(options: PredictionLogOptions): Promise<PredictionLog> {
    const file = path.resolve(options.directory, options.path)
    const folder = path.dirname(file)
    let stream: WriteStream
    try {
      await mkdir(folder, {recursive: true})
      const [root, real] = await Promise.all([realpath(options.directory), realpath(folder)])
      if (real !== root && !real.startsWith(root + path.sep)) {
        throw notWritable(file, `${folder} leads out of the log directory ${options.directory} (a symbolic link)`)
      }
      stream = createWriteStream(file, {flags: 'a'})
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve())
        stream.once('error', reject)
      })
    } catch (error) {
      throw error instanceof MlshipError ? error : notWritable(file, await whyNotWritable(folder, error), error)
    }
    // A failing disk must not take the server down: later errors only stop the log.
    stream.on('error', () => {})
    return new PredictionLog(stream, options)
  }

  /** Writes the prediction if it is sampled; returns whether it was written. */
  record(inputs: TensorMap, outputs: TensorMap, requestId?: string): boolean {
    const random = this.options.random ?? Math.random
    if (this.options.sampleRate <= 0 || random() >= this.options.sampleRate) return false
    if (this.stream.writableLength > MAX_PENDING_BYTES || this.stream.destroyed) {
      this.options.onDrop?.()
      return false
    }
    const record: PredictionRecord = {
      inputs: plain(inputs),
      model: this.options.modelName,
      model_version: this.options.modelVersion,
      outputs: plain(outputs),
      ...(requestId === undefined ? {} : {request_id: requestId}),
      time: new Date().toISOString(),
    }
    this.stream.write(`${JSON.stringify(record, bigintToNumber)}\n`)
    return true
  }

  async close(): Promise<void> {
    if (this.stream.destroyed) return
    await new Promise<void>((resolve) => this.stream.end(resolve))
  }
}

function plain(tensors: TensorMap): Record<string, {shape: number[]; data: unknown[]}> {
  const out: Record<string, {shape: number[]; data: unknown[]}> = {}
  for (const [name, tensor] of Object.entries(tensors))
    out[name] = {data: Array.from(tensor.data), shape: [...tensor.dims]}
  return out
}

function bigintToNumber(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? Number(value) : value
}

/**
 * Node's errors name the last call, not the cause: mkdir -p under a read-only root says ENOENT. The nearest folder
 * that exists says what is really wrong (another user's folder, a read-only file system).
 */
async function whyNotWritable(folder: string, error: unknown): Promise<string> {
  let existing = folder
  while (
    !(await access(existing).then(
      () => true,
      () => false,
    )) &&
    path.dirname(existing) !== existing
  )
    existing = path.dirname(existing)
  try {
    await access(existing, fsConstants.W_OK)
  } catch (denied) {
    const code = (denied as NodeJS.ErrnoException).code
    const user = process.getuid ? ` (user ${process.getuid()})` : ''
    return code === 'EROFS'
      ? `${existing} is on a read-only file system (EROFS)`
      : `${existing} is not writable for this process${user} (${code ?? errorMessage(denied)})`
  }
  return errorMessage(error)
}

function notWritable(file: string, reason: string, cause?: unknown): MlshipError {
  return new MlshipError(`the prediction log ${file} cannot be written: ${reason}`, {
    cause,
    code: 'PREDICTION_LOG_NOT_WRITABLE',
    details: {file},
    exitCode: ExitCode.usage,
    suggestions: [
      'In the image the log goes to MLSHIP_DATA_DIR, /var/lib/mlship, a volume the server may write: mount one there if the container replaces it (docker run -v mlship-data:/var/lib/mlship ...).',
      'Elsewhere, set MLSHIP_DATA_DIR to a folder the server may write, or turn the log off (monitoring.prediction_log.enabled: false).',
    ],
  })
}
