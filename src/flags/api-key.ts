import * as Flags from '@oclif/core/flags'

import {readSecretFromStdin} from './stdin-secret.js'

/** The environment variable a client command reads the server's API key from (serving.auth). */
export const API_KEY_ENV = 'MLSHIP_API_KEY'

/** --api-key-stdin: for commands that call a running server (--url). */
export const apiKeyFlags = {
  'api-key-stdin': Flags.boolean({
    dependsOn: ['url'],
    description: `With --url: read the API key of the server (serving.auth) from stdin; default: the ${API_KEY_ENV} variable. Never pass a key as a flag.`,
  }),
}

/** The API key to send: stdin with --api-key-stdin, else MLSHIP_API_KEY, else none. */
export async function apiKeyFromFlags(
  flags: {'api-key-stdin'?: boolean},
  env: NodeJS.ProcessEnv = process.env,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<string | undefined> {
  if (flags['api-key-stdin']) {
    const key = await readSecretFromStdin(
      {
        codePrefix: 'API_KEY_STDIN',
        examples: ['printenv IRIS_API_KEY | mlship predict --url http://HOST:8080 --api-key-stdin -i ...'],
        flag: '--api-key-stdin',
        what: 'the API key',
      },
      stdin,
    )
    return key.trim()
  }
  return env[API_KEY_ENV]?.trim() || undefined
}
