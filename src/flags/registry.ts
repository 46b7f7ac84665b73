import {Flags} from '@oclif/core'

import {type ResolvedCredentials, resolveCredentials} from '../registry/credentials.js'
import {ExitCode, MlshipError} from '../errors.js'

/** Flags shared by push, versions, rollback and login. */
export const registryFlags = {
  'password-stdin': Flags.boolean({
    description: 'Read the registry password or token from stdin (for CI; never pass a secret as a flag).',
    helpGroup: 'REGISTRY',
  }),
  registry: Flags.string({
    description:
      'Registry and repository, host[:port]/repository. Default: registry.host/registry.repository in model.yaml.',
    helpGroup: 'REGISTRY',
  }),
  username: Flags.string({
    char: 'u',
    description:
      'Registry username (with --password-stdin). Default: the credentials of `docker login` / `mlship login`.',
    helpGroup: 'REGISTRY',
  }),
}

export async function readStdinSecret(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  if ((stdin as {isTTY?: boolean}).isTTY) {
    throw new MlshipError('--password-stdin reads the password from a pipe, and stdin is a terminal', {
      code: 'PASSWORD_STDIN_TTY',
      exitCode: ExitCode.usage,
      suggestions: [
        'echo "$REGISTRY_PASSWORD" | mlship push --username "$REGISTRY_USERNAME" --password-stdin',
        'Or run `mlship login` once.',
      ],
    })
  }
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
  // Like docker login --password-stdin: one trailing newline (from echo) is not part of the secret.
  const secret = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
  if (!secret) {
    throw new MlshipError('--password-stdin: stdin was empty', {
      code: 'PASSWORD_STDIN_EMPTY',
      exitCode: ExitCode.usage,
      suggestions: [
        'Pipe the password in: echo "$REGISTRY_PASSWORD" | mlship ... --password-stdin (is the CI secret set?)',
      ],
    })
  }
  return secret
}

/** --username/--password-stdin when given, else the docker configuration's credentials for the host. */
export async function credentialsFromFlags(
  host: string,
  flags: {username?: string; 'password-stdin'?: boolean},
): Promise<ResolvedCredentials> {
  const password = flags['password-stdin'] ? await readStdinSecret() : undefined
  return resolveCredentials(host, {password, username: flags.username})
}
