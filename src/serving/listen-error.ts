import {errorMessage, ExitCode, MlshipError} from '../errors.js'

/** What failed to listen on `host`:`port`, and what to do about it. */
export function listenError(error: unknown, host: string, port: number): MlshipError {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'EADDRINUSE') {
    return new MlshipError(`port ${port} on ${host} is already in use`, {
      cause: error,
      code: 'PORT_IN_USE',
      details: {host, port},
      exitCode: ExitCode.usage,
      suggestions: [
        `Stop what listens on port ${port}, or pick another port with --port (or serving.port in model.yaml).`,
      ],
    })
  }
  if (code === 'EACCES') {
    return new MlshipError(`not allowed to listen on ${host}:${port}`, {
      cause: error,
      code: 'PORT_DENIED',
      exitCode: ExitCode.usage,
      suggestions: ['Ports below 1024 need privileges: pick a port above 1024 with --port.'],
    })
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new MlshipError(`cannot listen on ${host}: no such address on this machine`, {
      cause: error,
      code: 'HOST_INVALID',
      exitCode: ExitCode.usage,
      suggestions: ['Use --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface).'],
    })
  }
  return new MlshipError(`cannot listen on ${host}:${port}: ${errorMessage(error)}`, {
    cause: error,
    code: 'LISTEN_FAILED',
  })
}
