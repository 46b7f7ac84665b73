/**
 * The exit codes are a stable interface: CI pipelines branch on them. Documented in README.md and in `mlship --help`.
 */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  dockerUnavailable: 3,
  buildFailed: 4,
  containerUnhealthy: 5,
  registry: 6,
  belowSlo: 7,
  cluster: 8,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export const EXIT_CODE_TABLE: ReadonlyArray<{code: ExitCodeValue; meaning: string}> = [
  {code: ExitCode.ok, meaning: 'success'},
  {code: ExitCode.unexpected, meaning: 'unexpected error (a bug: please report it with DEBUG=mlship:* output)'},
  {code: ExitCode.usage, meaning: 'usage or configuration error (bad flag, model.yaml, or model file)'},
  {code: ExitCode.dockerUnavailable, meaning: 'Docker engine unavailable (try --local)'},
  {code: ExitCode.buildFailed, meaning: 'image build failed'},
  {code: ExitCode.containerUnhealthy, meaning: 'container or server did not become healthy'},
  {code: ExitCode.registry, meaning: 'registry or authentication error'},
  {code: ExitCode.belowSlo, meaning: 'benchmark below its SLO (--fail-below)'},
  {code: ExitCode.cluster, meaning: 'Kubernetes API error (no context, unreachable, or it refused the objects)'},
]

export function exitCodeHelp(): string {
  return EXIT_CODE_TABLE.map(({code, meaning}) => `  ${code}  ${meaning}`).join('\n')
}

/**
 * In a suggestion, stands for the command that failed: a command writes its own name there (`mlship versions`), so
 * an error raised deep in a shared service still tells the user what to run.
 */
export const THIS_COMMAND = 'mlship <this command>'

export interface MlshipErrorOptions {
  exitCode?: ExitCodeValue
  /** A short machine-readable identifier, stable across releases (e.g. CONFIG_INVALID). */
  code?: string
  /** What the user can do next. */
  suggestions?: string[]
  /** Structured details for --json output (file, line, key path...). */
  details?: Record<string, unknown>
  cause?: unknown
}

/** An error the user can act on: it says what went wrong, where, and what to do next, and never shows a stack. */
export class MlshipError extends Error {
  readonly exitCode: ExitCodeValue
  readonly code: string
  readonly suggestions: string[]
  readonly details: Record<string, unknown>

  constructor(message: string, options: MlshipErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'MlshipError'
    this.exitCode = options.exitCode ?? ExitCode.unexpected
    this.code = options.code ?? 'MLSHIP_ERROR'
    this.suggestions = options.suggestions ?? []
    this.details = options.details ?? {}
  }
}

export class ConfigError extends MlshipError {
  constructor(message: string, options: Omit<MlshipErrorOptions, 'exitCode'> = {}) {
    super(message, {code: 'CONFIG_INVALID', ...options, exitCode: ExitCode.usage})
    this.name = 'ConfigError'
  }
}

export class ModelError extends MlshipError {
  constructor(message: string, options: Omit<MlshipErrorOptions, 'exitCode'> = {}) {
    super(message, {code: 'MODEL_INVALID', ...options, exitCode: ExitCode.usage})
    this.name = 'ModelError'
  }
}

export function isMlshipError(error: unknown): error is MlshipError {
  return error instanceof MlshipError
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** A flag, or a mix of flags, that the command cannot take (exit 2): the message says which and why. */
export function flagUsageError(message: string): MlshipError {
  return new MlshipError(message, {code: 'FLAG_INVALID', exitCode: ExitCode.usage})
}
