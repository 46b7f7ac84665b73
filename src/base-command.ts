import {Command, Errors} from '@oclif/core'

import {ExitCode, exitCodeHelp, isMlshipError} from './errors.js'

/**
 * Every mlship command: `--json` on, one error path that maps errors to the documented exit codes and shows a stack
 * trace only for bugs (and only with DEBUG=mlship:*).
 */
export abstract class BaseCommand<T> extends Command {
  static override enableJsonFlag = true

  protected static exitCodesHelp = `EXIT CODES\n${exitCodeHelp()}`

  abstract override run(): Promise<T>

  override async catch(error: Error & {oclif?: {exit?: number}; exitCode?: number}): Promise<unknown> {
    if (isMlshipError(error)) {
      process.exitCode = error.exitCode
      const cliError = new Errors.CLIError(error.message, {
        code: error.code,
        exit: error.exitCode,
        suggestions: error.suggestions,
      })
      if (this.jsonEnabled()) {
        this.logJson({
          error: {
            code: error.code,
            details: error.details,
            exitCode: error.exitCode,
            message: error.message,
            name: error.name,
            suggestions: error.suggestions,
          },
        })
        return
      }
      if (process.env.DEBUG?.includes('mlship') && error.cause)
        this.logToStderr(
          error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : JSON.stringify(error.cause),
        )
      throw cliError
    }

    // oclif's own errors (bad flags, missing args) already carry their exit code.
    if (error.oclif?.exit !== undefined) {
      process.exitCode = error.oclif.exit === 0 ? 0 : error.oclif.exit
      return super.catch(error)
    }

    process.exitCode = ExitCode.unexpected
    if (this.jsonEnabled()) {
      this.logJson({
        error: {code: 'UNEXPECTED', exitCode: ExitCode.unexpected, message: error.message, name: error.name},
      })
      return
    }
    if (process.env.DEBUG?.includes('mlship')) this.logToStderr(error.stack ?? String(error))
    throw new Errors.CLIError(error.message, {
      exit: ExitCode.unexpected,
      suggestions: ['This is a bug in mlship. Run again with DEBUG=mlship:* and report the output.'],
    })
  }
}
