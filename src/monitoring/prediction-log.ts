import {createWriteStream, type WriteStream} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import path from 'node:path'

import type {TensorMap} from './tensor.js'

export interface PredictionLogOptions {
  /** The JSONL file; appended to, created with its folder where missing. */
  file: string
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

  static async open(options: PredictionLogOptions): Promise<PredictionLog> {
    await mkdir(path.dirname(options.file), {recursive: true})
    const stream = createWriteStream(options.file, {flags: 'a'})
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve())
      stream.once('error', reject)
    })
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
