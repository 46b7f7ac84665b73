import {logLevelFromEnv, requestLogPerSecondFromEnv} from '../config/logging-env.js'
import type {ServingConfig} from '../config/schema.js'
import type {ServingSettings} from './context.js'
import {resolveWorkerCount, usableCpus} from './cpus.js'

export interface ServingOverrides {
  workers?: 'auto' | number
  intraOpThreads?: number
  maxBatchSize?: number
  bodyLimitBytes?: number
  bodyTimeoutMs?: number
  requestTimeoutMs?: number
  logLevel?: ServingConfig['log_level']
  requestLogPerSecond?: number | 'all'
}

/**
 * model.yaml's serving section, the caller's overrides and LOG_LEVEL, resolved. Apart from the server (server.ts) so
 * that the commands that only read the settings (predict) do not load fastify. `cpus`: the CPUs this process may use,
 * where the caller knows them already (usableCpus reads the cgroup's files each time).
 */
export function resolveSettings(
  serving: ServingConfig,
  overrides: ServingOverrides,
  env: NodeJS.ProcessEnv,
  cpus: number = usableCpus(),
): Omit<ServingSettings, 'dataDir'> {
  const envLevel = logLevelFromEnv(env)
  return {
    requestLogPerSecond:
      overrides.requestLogPerSecond ?? requestLogPerSecondFromEnv(env) ?? serving.request_log_per_second,
    bodyLimitBytes: overrides.bodyLimitBytes ?? serving.body_limit_bytes,
    bodyTimeoutMs: overrides.bodyTimeoutMs ?? serving.body_timeout_ms,
    intraOpThreads: overrides.intraOpThreads ?? serving.intra_op_threads,
    logLevel: overrides.logLevel ?? envLevel ?? serving.log_level,
    maxBatchSize: overrides.maxBatchSize ?? serving.max_batch_size,
    requestTimeoutMs: overrides.requestTimeoutMs ?? serving.request_timeout_ms,
    cpus,
    workers: resolveWorkerCount(overrides.workers ?? serving.workers, cpus),
  }
}
