import * as Flags from '@oclif/core/flags'

import {type ResolvedCredentials, resolveCredentials} from '../registry/credentials.js'
import {readSecretFromStdin} from './stdin-secret.js'

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
  return readSecretFromStdin(
    {
      codePrefix: 'PASSWORD_STDIN',
      examples: ['echo "$REGISTRY_PASSWORD" | mlship push --username "$REGISTRY_USERNAME" --password-stdin'],
      flag: '--password-stdin',
      what: 'the registry password',
    },
    stdin,
  )
}

/** --username/--password-stdin when given, else the docker configuration's credentials for the host. */
export async function credentialsFromFlags(
  host: string,
  flags: {username?: string; 'password-stdin'?: boolean},
): Promise<ResolvedCredentials> {
  const password = flags['password-stdin'] ? await readStdinSecret() : undefined
  return resolveCredentials(host, {password, username: flags.username})
}
