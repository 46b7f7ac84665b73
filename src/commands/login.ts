import * as Args from '@oclif/core/args'

import {BaseCommand} from '../base-command.js'
import {loadConfig} from '../config/load.js'
import {ExitCode, MlshipError} from '../errors.js'
import {readStdinSecret, registryFlags} from '../flags/registry.js'
import {login, type LoginResult} from '../registry/login.js'

export default class Login extends BaseCommand<LoginResult> {
  static override args = {
    registry: Args.string({
      description: 'Registry host[:port]. Default: registry.host in ./model.yaml.',
      ignoreStdin: true,
    }),
  }

  static override description = `Checks a username and password (or token) against the registry, then stores them the way \`docker login\` does: through the credential helper named in ~/.docker/config.json (credHelpers, credsStore), or base64 in its auths. DOCKER_CONFIG moves that directory. \`mlship push\`, \`versions\` and \`rollback\` and \`docker\` itself then use them.

Asks on a terminal; in CI pass --username and --password-stdin. The password is never printed or logged.

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> ghcr.io -u octocat',
      description: 'Asks for the password (a token) on the terminal.',
    },
    {
      command: 'echo "$REGISTRY_PASSWORD" | <%= config.bin %> <%= command.id %> 127.0.0.1:5000 -u ci --password-stdin',
      description: 'CI.',
    },
  ]

  static override flags = {
    'password-stdin': registryFlags['password-stdin'],
    username: registryFlags.username,
  }

  static override summary = 'Log in to a registry (stores credentials like docker login).'

  async run(): Promise<LoginResult> {
    const {args, flags} = await this.parse(Login)
    const interactive = !this.jsonEnabled() && process.stdin.isTTY && process.stdout.isTTY
    const host = args.registry ?? (await loadConfig('.').catch(() => undefined))?.config.registry?.host
    if (!host) {
      throw new MlshipError('Which registry? No REGISTRY argument, and no registry.host in ./model.yaml', {
        code: 'REGISTRY_NOT_SET',
        exitCode: ExitCode.usage,
        suggestions: ['mlship login ghcr.io -u USERNAME'],
      })
    }

    // The prompts load only when a question is asked: CI logs in with --username and --password-stdin.
    let username = flags.username
    if (!username && interactive) {
      const {input} = await import('@inquirer/prompts')
      username = await input({message: `Username for ${host}:`, validate: (v) => v.trim() !== '' || 'a username'})
    }
    if (!username) throw missing('--username', host)

    let secret: string | undefined
    if (flags['password-stdin']) secret = await readStdinSecret()
    else if (interactive) {
      const {password} = await import('@inquirer/prompts')
      secret = await password({mask: true, message: `Password or token for ${username}@${host}:`})
    }
    if (!secret) throw missing('--password-stdin', host)

    const result = await login({host, password: secret, username})
    this.log(
      `Login succeeded: ${result.username}@${result.registry}; credentials stored in ${result.store === 'config-file' ? result.configFile : `the credential helper (${result.store.slice('helper:'.length)})`}.`,
    )
    return result
  }
}

function missing(flag: string, host: string): MlshipError {
  return new MlshipError(`mlship login ${host}: ${flag} is needed when there is no terminal to ask on`, {
    code: 'CREDENTIAL_FLAGS_INCOMPLETE',
    exitCode: ExitCode.usage,
    suggestions: [`echo "$REGISTRY_PASSWORD" | mlship login ${host} --username "$REGISTRY_USERNAME" --password-stdin`],
  })
}
