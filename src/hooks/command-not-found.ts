import type {Hook} from '@oclif/core'
import * as Errors from '@oclif/core/errors'
import {toConfiguredId} from '@oclif/core/util/ids'
import {closest, distance} from 'fastest-levenshtein'

import type {JsonError} from '../base-command.js'
import {ExitCode} from '../errors.js'

/**
 * `mlship buidl`: says which command was meant ("did you mean build?"), in a terminal and in a script alike, exits 2
 * like every usage error, and under --json prints the same small error object as every command.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const {bin} = options.config
  const ids = options.config.commands.filter((command) => !command.hidden).map((command) => command.id)
  // With spaces as topic separators oclif offers the arguments as part of the id ("buidl:examples/iris"): the
  // commands are one word each, so the first one is what was typed as the command.
  const [typed = options.id] = options.id.split(':')
  const nearest = ids.length > 0 ? closest(typed, ids) : undefined
  // A suggestion only where it is plausibly a typo: "buidl" -> build, not "deploy" -> push.
  const meant =
    nearest !== undefined && distance(typed, nearest) <= Math.max(2, Math.floor(typed.length / 3))
      ? toConfiguredId(nearest, options.config)
      : undefined
  const message = `${bin} has no command "${typed}".${meant ? ` Did you mean "${bin} ${meant}"?` : ''}`
  const suggestions = [`Run \`${bin} --help\` for the list of commands.`]
  if (options.argv?.includes('--json')) {
    const json: JsonError = {
      error: {code: 'UNKNOWN_COMMAND', exitCode: ExitCode.usage, message, name: 'UnknownCommand', suggestions},
    }
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
    this.exit(ExitCode.usage)
  }
  throw new Errors.CLIError(message, {code: 'UNKNOWN_COMMAND', exit: ExitCode.usage, suggestions})
}

export default hook
