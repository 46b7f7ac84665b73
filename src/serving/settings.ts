import type {ServingConfig} from '../config/schema.js'
import {ExitCode, MlshipError} from '../errors.js'
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
 * that the commands that only read the settings (predict) do not load fastify.
 */
export function resolveSettings(
  serving: ServingConfig,
  overrides: ServingOverrides,
  env: NodeJS.ProcessEnv,
): Omit<ServingSettings, 'dataDir'> {
  const envLevel = env.LOG_LEVEL?.trim().toLowerCase()
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']
  if (envLevel && !levels.includes(envLevel)) {
    throw new MlshipError(`LOG_LEVEL="${env.LOG_LEVEL}" is not a log level: use one of ${levels.join(', ')}`, {
      code: 'LOG_LEVEL_INVALID',
      exitCode: ExitCode.usage,
    })
  }
  return {
    requestLogPerSecond:
      overrides.requestLogPerSecond ??
      requestLogPerSecond(env.LOG_REQUESTS_PER_SECOND) ??
      serving.request_log_per_second,
    bodyLimitBytes: overrides.bodyLimitBytes ?? serving.body_limit_bytes,
    bodyTimeoutMs: overrides.bodyTimeoutMs ?? serving.body_timeout_ms,
    intraOpThreads: overrides.intraOpThreads ?? serving.intra_op_threads,
    logLevel: overrides.logLevel ?? (envLevel as ServingConfig['log_level'] | undefined) ?? serving.log_level,
    maxBatchSize: overrides.maxBatchSize ?? serving.max_batch_size,
    requestTimeoutMs: overrides.requestTimeoutMs ?? serving.request_timeout_ms,
    workers: resolveWorkerCount(overrides.workers ?? serving.workers, usableCpus()),
  }
}

/** LOG_REQUESTS_PER_SECOND: a whole number of lines per second, or "all" (every request logged). */
function requestLogPerSecond(value: string | undefined): number | 'all' | undefined {
  const text = value?.trim().toLowerCase()
  if (!text) return undefined
  if (text === 'all') return 'all'
  if (/^\d+$/.test(text) && Number(text) > 0) return Number(text)
  throw new MlshipError(
    `LOG_REQUESTS_PER_SECOND="${value}" is neither a positive whole number of request lines per second nor "all"`,
    {code: 'LOG_REQUESTS_PER_SECOND_INVALID', exitCode: ExitCode.usage, suggestions: ['LOG_REQUESTS_PER_SECOND=all']},
  )
}
