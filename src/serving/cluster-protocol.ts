import type {LoadedConfig} from '../config/load.js'
import type {MetricsSnapshot} from '../monitoring/metrics.js'
import type {ServingOverrides} from './settings.js'

/**
 * The messages between a cluster's primary (cluster.ts) and its HTTP processes (cluster-child.ts), over node:cluster's
 * IPC channel. Options travel here rather than in the environment: the server's own API key is among them.
 */
export interface ClusterChildOptions {
  /**
   * model.yaml as the primary read and checked it (and the signature, where it opened the model): the processes do not
   * read and validate it again, and never load the YAML parser and zod (issue 19: start-up CPU of each process).
   */
  project: LoadedConfig
  host: string
  port: number
  /** This process's number (1..processes): the `process` field of its log lines. */
  index: number
  processes: number
  logLevel: string
  logTo: 'stdout' | 'stderr'
  serving: ServingOverrides
  extraKeys: string[]
  /**
   * Time a single-row inference once the model is open, send it (`mlship:measured`) and wait for `mlship:proceed`
   * before serving: the primary chooses the layout from it (layout.ts) and stops the processes when it is single.
   */
  measure: boolean
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
  /** Every process is warm: readiness may turn 200. */
  | {type: 'mlship:ready'}
  /** Send this process's metrics for an aggregation. */
  | {type: 'mlship:collect'; id: number}
  /** The answer to a child's `metrics` request: the whole cluster's exposition. */
  | {type: 'mlship:metrics'; id: number; text?: string; error?: string}
  | {type: 'mlship:stop'; deadlineMs: number}
  /** The layout stays the cluster (after `mlship:measured`): start serving. */
  | {type: 'mlship:proceed'}

export type ChildMessage =
  /** The process listens for messages (one sent before would be lost): send its options. */
  | {type: 'mlship:waiting'}
  /** The median single-row inference time in this process (ms); absent where the warm-up input failed. */
  | {type: 'mlship:measured'; rowCostMs?: number}
  | {type: 'mlship:warm'; workers: number}
  | {type: 'mlship:failed'; error: ChildFailure}
  | {type: 'mlship:collected'; id: number; metrics: MetricsSnapshot}
  /** GET /metrics on this process: the primary aggregates every process's metrics and answers. */
  | {type: 'mlship:metrics'; id: number}

export function isChildMessage(message: unknown): message is ChildMessage {
  return (
    typeof message === 'object' && message !== null && String((message as {type?: unknown}).type).startsWith('mlship:')
  )
}

export const isPrimaryMessage = isChildMessage as (message: unknown) => message is PrimaryMessage
