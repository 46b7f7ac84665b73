import {errorMessage, ExitCode, MlshipError} from '../errors.js'
import type {ContainerLogs, ContainerRunner} from './containers.js'
import type {ImageBuilder, ImageStore, ImageTransfer} from './images.js'

/**
 * The Docker engine behind small interfaces (as testcontainers-node does): each service asks for the parts it needs
 * (`Pick<DockerEngine, 'images' | 'containers'>`), dockerode implements them in dockerode-engine.ts, and nothing else
 * in mlship touches dockerode's wide API.
 */
export interface DockerEngine {
  /** Where the engine is, as the user wrote it (DOCKER_HOST) or the default socket, for messages. */
  readonly endpoint: string
  /** The engine's version and platform, read once by connectEngine(). */
  readonly info: EngineInfo
  readonly images: ImageStore
  readonly builder: ImageBuilder
  readonly transfer: ImageTransfer
  readonly containers: ContainerRunner
  readonly logs: ContainerLogs
}

export interface EngineInfo {
  version: string
  apiVersion: string
  os: string
  /** Docker's architecture name: amd64, arm64... */
  arch: string
}

/** The engine's own platform (Docker's names: linux/amd64, linux/arm64). */
export function enginePlatform(engine: {info: EngineInfo}): string {
  return `${engine.info.os}/${engine.info.arch}`
}

export interface ConnectEngineOptions {
  /** Environment to read DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH from; defaults to process.env. */
  env?: NodeJS.ProcessEnv
  /** How long the engine may take to answer the first ping. */
  timeoutMs?: number
  /** What the command could do without Docker, shown as a suggestion (e.g. "mlship serve --local"). */
  withoutDocker?: string
}

export function engineEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST && env.DOCKER_HOST.length > 0 ? env.DOCKER_HOST : 'unix:///var/run/docker.sock'
}

/**
 * Connects to the engine DOCKER_HOST names (or the default socket) and checks that it answers. An engine that does
 * not answer is exit code 3 with what to do next, never a stack trace.
 */
export async function connectEngine(options: ConnectEngineOptions = {}): Promise<DockerEngine> {
  const env = options.env ?? process.env
  const endpoint = engineEndpoint(env)
  // dockerode (and its ssh2, protobufjs, grpc) loads when a command reaches the engine, not with the command.
  const {dockerodeEngine} = await import('./dockerode-engine.js')
  let connecting: ReturnType<typeof dockerodeEngine>
  try {
    connecting = dockerodeEngine(env, endpoint)
  } catch (error) {
    throw engineUnavailable(endpoint, error, options.withoutDocker)
  }

  const timeoutMs = options.timeoutMs ?? 10_000
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      connecting.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), {code: 'ETIMEDOUT'})),
          timeoutMs,
        )
      }),
    ])
  } catch (error) {
    throw engineUnavailable(endpoint, error, options.withoutDocker)
  } finally {
    if (timer) clearTimeout(timer)
  }
}

function engineUnavailable(endpoint: string, error: unknown, withoutDocker?: string): MlshipError {
  const code = (error as NodeJS.ErrnoException).code
  const reason =
    code === 'ENOENT'
      ? 'no such socket'
      : code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'ETIMEDOUT'
            ? 'it did not answer in time'
            : errorMessage(error)
  const suggestions = [
    'Start Docker (Docker Desktop, or `sudo systemctl start docker`), or point DOCKER_HOST at a running engine.',
  ]
  if (code === 'EACCES')
    suggestions.unshift('Add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again).')
  if (withoutDocker) suggestions.push(`Or run without Docker: \`${withoutDocker}\`.`)
  return new MlshipError(`No Docker engine answers at ${endpoint} (${reason}).`, {
    cause: error,
    code: 'DOCKER_UNAVAILABLE',
    details: {endpoint, reason},
    exitCode: ExitCode.dockerUnavailable,
    suggestions,
  })
}

/** What an engine status code means: dockerode errors carry the HTTP status of the Engine API answer. */
export type EngineStatus = 'not-found' | 'not-modified' | 'conflict' | 'error'

/** How the interfaces of src/docker report a failed engine request: what it means, and the engine's own message. */
export class EngineError extends Error {
  readonly status: EngineStatus

  constructor(status: EngineStatus, message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'EngineError'
    this.status = status
  }

  /** A dockerode error (or anything thrown while talking to the engine) as an EngineError. */
  static from(error: unknown): EngineError {
    if (error instanceof EngineError) return error
    return new EngineError(engineStatus(error), engineMessage(error), {cause: error})
  }
}

export function engineStatus(error: unknown): EngineStatus {
  if (error instanceof EngineError) return error.status
  const status = (error as {statusCode?: number}).statusCode
  if (status === 404) return 'not-found'
  if (status === 304) return 'not-modified'
  if (status === 409) return 'conflict'
  return 'error'
}

/** The engine's own message ("No such image: x"), without dockerode's "(HTTP code 404) ..." prefix. */
export function engineMessage(error: unknown): string {
  if (error instanceof EngineError) return error.message
  const json = (error as {json?: {message?: string} | null}).json
  if (json && typeof json.message === 'string') return json.message
  const reason = (error as {reason?: string}).reason
  const message = errorMessage(error)
  return message.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '').trim() || reason || message
}
