import {ExitCode, MlshipError} from '../errors.js'
import type {ServingConfig} from './schema.js'

/**
 * The server's logging variables, checked where they are read: by the server itself, and by `mlship serve` before it
 * passes them on to a container (which would otherwise fail to become ready, the reason only in its log).
 */
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/** LOG_LEVEL (over serving.log_level), or undefined where it is unset. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv): ServingConfig['log_level'] | undefined {
  const level = env.LOG_LEVEL?.trim().toLowerCase()
  if (!level) return undefined
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new MlshipError(`LOG_LEVEL="${env.LOG_LEVEL}" is not a log level: use one of ${LOG_LEVELS.join(', ')}`, {
      code: 'LOG_LEVEL_INVALID',
      exitCode: ExitCode.usage,
    })
  }
  return level as ServingConfig['log_level']
}

/** LOG_REQUESTS_PER_SECOND: a whole number of lines per second, or "all" (every request logged); undefined if unset. */
export function requestLogPerSecondFromEnv(env: NodeJS.ProcessEnv): number | 'all' | undefined {
  const value = env.LOG_REQUESTS_PER_SECOND
  const text = value?.trim().toLowerCase()
  if (!text) return undefined
  if (text === 'all') return 'all'
  if (/^\d+$/.test(text) && Number(text) > 0) return Number(text)
  throw new MlshipError(
    `LOG_REQUESTS_PER_SECOND="${value}" is neither a positive whole number of request lines per second nor "all"`,
    {code: 'LOG_REQUESTS_PER_SECOND_INVALID', exitCode: ExitCode.usage, suggestions: ['LOG_REQUESTS_PER_SECOND=all']},
  )
}
