import type {LoadedConfig} from '../config/load.js'
import type {MetricsSnapshot} from '../monitoring/metrics.js'
import type {ServingOverrides} from './settings.js'

/**
 * The messages between the cluster's first HTTP process (start-serving.ts, cluster.ts) and the processes it forks
 * (cluster-child.ts), over node:cluster's IPC channel. Options travel here rather than in the environment: the
 * server's own API key is among them.
 */
export interface ClusterChildOptions {
  /**
   * model.yaml as the first process read and checked it, with the signature it opened the model with: the processes do
   * not read and validate it again, and never load the YAML parser and zod (issue 19: start-up CPU of each process).
   */
  project: LoadedConfig
  /** Where the first process listens: the processes serve the connections it hands them, and do not listen there. */
  host: string
  port: number
  /** This process's number (2..processes; the first process is 1): the `process` field of its log lines. */
  index: number
  processes: number
  logLevel: string
  logTo: 'stdout' | 'stderr'
  serving: ServingOverrides
  extraKeys: string[]
}

export interface ChildFailure {
  message: string
  code?: string
  exitCode?: number
  details?: Record<string, unknown>
  suggestions?: string[]
}

export type PrimaryMessage =
  | {type: 'mlship:start'; options: ClusterChildOptions}
  /** A connection to serve, its socket handed with the message (SharedConnections). */
  | {type: 'mlship:connection'}
  /** Send this process's metrics for an aggregation. */
  | {type: 'mlship:collect'; id: number}
  /** The answer to a child's `metrics` request: the whole cluster's exposition. */
  | {type: 'mlship:metrics'; id: number; text?: string; error?: string}
  | {type: 'mlship:stop'; deadlineMs: number}

export type ChildMessage =
  /** The process listens for messages (one sent before would be lost): send its options. */
  | {type: 'mlship:waiting'}
  /** Built and warm: hand it connections. */
  | {type: 'mlship:warm'}
  | {type: 'mlship:failed'; error: ChildFailure}
  | {type: 'mlship:collected'; id: number; metrics: MetricsSnapshot}
  /** GET /metrics on this process: the first process aggregates every process's metrics and answers. */
  | {type: 'mlship:metrics'; id: number}

export function isChildMessage(message: unknown): message is ChildMessage {
  return (
    typeof message === 'object' && message !== null && String((message as {type?: unknown}).type).startsWith('mlship:')
  )
}

export const isPrimaryMessage = isChildMessage as (message: unknown) => message is PrimaryMessage
