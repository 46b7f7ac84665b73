import {ExitCode, MlshipError} from '../errors.js'

export interface StdinSecretUsage {
  /** The flag that asked for it, e.g. "--password-stdin". */
  flag: string
  /** What it is, e.g. "the registry password". */
  what: string
  /** Prefix of the error codes (`<prefix>_TTY`, `<prefix>_EMPTY`): stable interfaces. */
  codePrefix: string
  /** How to pipe it in, for the suggestions. */
  examples: string[]
}

/**
 * A secret piped in on stdin (never a flag value: those end up in shell history and `ps`). As docker login
 * --password-stdin: one trailing newline (from echo) is not part of it; a terminal or an empty pipe is refused.
 */
export async function readSecretFromStdin(usage: StdinSecretUsage, stdin: NodeJS.ReadableStream): Promise<string> {
  if ((stdin as {isTTY?: boolean}).isTTY) {
    throw new MlshipError(`${usage.flag} reads ${usage.what} from a pipe, and stdin is a terminal`, {
      code: `${usage.codePrefix}_TTY`,
      exitCode: ExitCode.usage,
      suggestions: usage.examples,
    })
  }
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
  const secret = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
  if (!secret) {
    throw new MlshipError(`${usage.flag}: stdin was empty`, {
      code: `${usage.codePrefix}_EMPTY`,
      exitCode: ExitCode.usage,
      suggestions: usage.examples.map((example) => `Pipe it in: ${example} (is the CI secret set?)`),
    })
  }
  return secret
}
