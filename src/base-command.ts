import {Command} from '@oclif/core/command'
import * as Errors from '@oclif/core/errors'
import {ux} from '@oclif/core/ux'

import {ExitCode, exitCodeHelp, isMlshipError, THIS_COMMAND} from './errors.js'

/** What every failing command prints on stdout under --json: small, the same shape for every kind of error. */
export interface JsonError {
  error: {
    code: string
    exitCode: number
    message: string
    name: string
    details?: Record<string, unknown>
    suggestions?: string[]
  }
}

type CaughtError = Error & {oclif?: {exit?: number}; exitCode?: number; code?: unknown}

/**
 * Every mlship command: `--json` on, one error path that maps errors to the documented exit codes and shows a stack
 * trace only for bugs (and only with DEBUG=mlship:*).
 */
export abstract class BaseCommand<T> extends Command {
  static override enableJsonFlag = true

  protected static exitCodesHelp = `EXIT CODES\n${exitCodeHelp()}`

  abstract override run(): Promise<T>

  /**
   * Progress, notes and warnings for the person watching: on stderr, also under --json (oclif's own logToStderr goes
   * quiet there). stdout carries the one JSON document; a build or a push that says nothing for 30 s looks hung.
   */
  override logToStderr(message = '', ...args: string[]): void {
    ux.stderr(message, ...args)
  }

  override async catch(error: CaughtError): Promise<unknown> {
    if (isMlshipError(error)) {
      process.exitCode = error.exitCode
      if (this.jsonEnabled()) {
        this.logJson(jsonError(error, this.id))
        return
      }
      if (process.env.DEBUG?.includes('mlship') && error.cause)
        this.logToStderr(
          error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : JSON.stringify(error.cause),
        )
      throw new Errors.CLIError(error.message, {
        code: error.code,
        exit: error.exitCode,
        suggestions: forCommand(error.suggestions, this.id),
      })
    }

    // oclif's own errors (bad flags, missing args) already carry their exit code.
    if (error.oclif?.exit !== undefined) {
      process.exitCode = error.oclif.exit
      // oclif's default --json output is the error object itself, parser context and all (160 kB for a bad flag).
      if (this.jsonEnabled() && error.oclif.exit !== 0) {
        this.logJson(jsonError(error, this.id))
        return
      }
      return super.catch(error)
    }

    process.exitCode = ExitCode.unexpected
    if (this.jsonEnabled()) {
      this.logJson(jsonError(error, this.id))
      return
    }
    if (process.env.DEBUG?.includes('mlship')) this.logToStderr(error.stack ?? String(error))
    throw new Errors.CLIError(error.message, {
      exit: ExitCode.unexpected,
      suggestions: ['This is a bug in mlship. Run again with DEBUG=mlship:* and report the output.'],
    })
  }
}

/** The --json form of any error a command can end with. */
export function jsonError(error: CaughtError, commandId?: string): JsonError {
  if (isMlshipError(error)) {
    return {
      error: {
        code: error.code,
        details: error.details,
        exitCode: error.exitCode,
        message: error.message,
        name: error.name,
        suggestions: forCommand(error.suggestions, commandId),
      },
    }
  }
  if (error.oclif?.exit !== undefined) {
    // oclif writes "Nonexistent flag: --bogus\nSee more help with --help", or "The following error occurred:\n  All
    // of the following must be provided when using --input: --output": keep what went wrong, on one line.
    const lines = error.message
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && line !== 'See more help with --help' && line !== 'The following error occurred:')
    const message = lines.join('; ') || error.message
    return {
      error: {
        code: 'INVALID_USAGE',
        exitCode: error.oclif.exit,
        message,
        name: error.name,
        suggestions: [`Run \`mlship ${commandId ?? ''} --help\` to see every argument and flag.`.replace('  ', ' ')],
      },
    }
  }
  return {error: {code: 'UNEXPECTED', exitCode: ExitCode.unexpected, message: error.message, name: error.name}}
}

/** Suggestions with THIS_COMMAND spelled out as the command that failed. */
function forCommand(suggestions: string[], commandId: string | undefined): string[] {
  return commandId ? suggestions.map((text) => text.replaceAll(THIS_COMMAND, `mlship ${commandId}`)) : suggestions
}
