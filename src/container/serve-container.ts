import {type BuildImageResult, buildImage, type BuildProgressEvent} from '../image/build-image.js'
import type {Platform} from '../image/dockerfile.js'
import {loadConfig} from '../config/load.js'
import {logLevelFromEnv, requestLogPerSecondFromEnv} from '../config/logging-env.js'
import type {DockerEngine} from '../docker/engine.js'
import {ExitCode, MlshipError} from '../errors.js'
import {onInterrupt} from '../util/interrupt.js'
import {
  type ContainerEngine,
  containerLogTail,
  logSuggestions,
  inspectImage,
  removeContainer,
  type RunningContainer,
  runContainer,
  stopContainer,
  waitReady,
} from './container.js'

export interface ServeContainerOptions {
  engine: DockerEngine
  /** The model directory; built first unless `image` is given. */
  dir: string
  /** Serve this image instead of building one. */
  image?: string
  /** Host port to publish; the image's own port when absent, 0 for any free port. */
  port?: number
  /** Host address to publish on (default 127.0.0.1). */
  host?: string
  gpus?: 'all' | number
  name?: string
  /** How long the container may take to become ready. */
  timeoutMs?: number
  /** Build options, used when `image` is absent. */
  build?: {
    baseImage?: string
    platform?: Platform
    gpu?: boolean
    noCache?: boolean
    entryPoints?: Record<string, string>
  }
  onBuildProgress?: (event: BuildProgressEvent) => void
  /** Where the API keys and logging variables passed on to the container are read (default process.env). */
  env?: NodeJS.ProcessEnv
}

/** The variable of API keys a server reads when model.yaml names none (serving.auth.keys_env's default). */
const DEFAULT_KEYS_ENV = 'MLSHIP_API_KEYS'

/** The server's logging variables (LOG_LEVEL over serving.log_level, LOG_REQUESTS_PER_SECOND over its key). */
const LOGGING_ENV = ['LOG_LEVEL', 'LOG_REQUESTS_PER_SECOND'] as const

/**
 * The variables the container gets from this environment, as `serve --local` would read them: the API keys
 * (serving.auth: the variable model.yaml's serving.auth.keys_env names, and MLSHIP_API_KEYS) and the logging
 * variables. Passed as container variables, as `docker run -e` would; nothing else of this environment reaches the
 * container.
 */
export function containerEnv(env: NodeJS.ProcessEnv, keysEnv: string | undefined): Record<string, string> {
  const forwarded: Record<string, string> = {}
  for (const name of new Set([keysEnv ?? DEFAULT_KEYS_ENV, DEFAULT_KEYS_ENV, ...LOGGING_ENV])) {
    const value = env[name]
    if (value) forwarded[name] = value
  }
  return forwarded
}

/** serving.auth.keys_env of the model directory, when it has a model.yaml (`--image` may be served from anywhere). */
async function keysEnvOf(dir: string, required: boolean): Promise<string | undefined> {
  try {
    return (await loadConfig(dir)).config.serving.auth.keys_env
  } catch (error) {
    if (required) throw error
    return undefined
  }
}

export interface ServedContainer {
  container: RunningContainer
  image: string
  /** The build, when serve built the image. */
  build?: BuildImageResult
  /** From start to the first 200 on /ready (or a healthy status). */
  readyMs: number
}

/**
 * Builds the image when needed (an unchanged model directory re-uses the image it built before), runs it with its
 * port published, and waits until it is ready. A container that does not become ready is removed, and the error
 * carries its last log lines (exit 5).
 */
export async function startServedContainer(options: ServeContainerOptions): Promise<ServedContainer> {
  const {engine} = options
  // Checked here as the server would (exit 2), before a build and a container that would not become ready.
  logLevelFromEnv(options.env ?? process.env)
  requestLogPerSecondFromEnv(options.env ?? process.env)
  let image = options.image
  let build: BuildImageResult | undefined
  if (!image) {
    build = await buildImage({
      baseImage: options.build?.baseImage,
      dir: options.dir,
      engine,
      entryPoints: options.build?.entryPoints,
      gpu: options.build?.gpu,
      noCache: options.build?.noCache,
      onProgress: options.onBuildProgress,
      platform: options.build?.platform,
      // `mlship build --base-image X` then `mlship serve`: the image built on X is the one to serve.
      reuseOtherBase: true,
    })
    image = build.tags[0]!
  }

  const containerPort = await imagePort(engine, image)
  const keysEnv = await keysEnvOf(options.dir, !options.image)
  const container = await runContainer({
    containerPort,
    engine,
    env: containerEnv(options.env ?? process.env, keysEnv),
    gpus: options.gpus,
    hostIp: options.host,
    hostPort: options.port ?? containerPort,
    image,
    name: options.name,
  })
  try {
    const {readyMs} = await waitReady({container, engine, timeoutMs: options.timeoutMs ?? 60_000})
    return {build, container, image, readyMs}
  } catch (error) {
    await removeContainer(engine, container.id)
    throw error
  }
}

/** The port the server in an image listens on: its first exposed TCP port, else its PORT variable, else 8080. */
export async function imagePort(engine: Pick<ContainerEngine, 'endpoint' | 'images'>, image: string): Promise<number> {
  const info = await inspectImage(engine, image)
  const exposed = info.exposedPorts.find((key) => key.endsWith('/tcp'))
  if (exposed) return Number(exposed.split('/')[0])
  const fromEnv = info.env.find((e) => e.startsWith('PORT='))
  return fromEnv ? Number(fromEnv.slice(5)) : 8080
}

export interface ServeInContainerOptions extends ServeContainerOptions {
  /** Leave the container running and return at once. */
  detach?: boolean
  /** Called once the container is ready, before logs are followed. */
  onReady?: (served: ServedContainer) => void
  /** Called when a signal starts the graceful stop. */
  onStopping?: (signal: NodeJS.Signals) => void
  /** Where the container's logs go while it runs in the foreground. */
  logs?: {stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream}
}

export interface ServeInContainerResult {
  mode: 'container'
  image: string
  container: {id: string; name: string}
  url: string
  readyMs: number
  detached: boolean
  /** The build, when serve built the image (upToDate: an identical image existed). */
  build?: {imageId: string; tags: string[]; buildSeconds: number; upToDate: boolean}
  /** What stopped it (foreground only): a signal to mlship, or "external" (`docker stop` elsewhere, exit code 0). */
  stoppedBy?: NodeJS.Signals | 'external'
  stopMs?: number
}

/**
 * `mlship serve` in container mode: build if needed, run, wait until ready; then either leave it running (detach)
 * or follow its logs until Ctrl-C (SIGINT) or SIGTERM, and stop and remove it gracefully. A container that stops on
 * its own is removed and reported with its last log lines (exit 5).
 */
export async function serveInContainer(options: ServeInContainerOptions): Promise<ServeInContainerResult> {
  const served = await startServedContainer(options)
  const {engine} = options
  const result: ServeInContainerResult = {
    build: served.build && {
      buildSeconds: served.build.buildSeconds,
      imageId: served.build.imageId,
      tags: served.build.tags,
      upToDate: served.build.upToDate,
    },
    container: {id: served.container.id, name: served.container.name},
    detached: Boolean(options.detach),
    image: served.image,
    mode: 'container',
    readyMs: served.readyMs,
    url: served.container.url,
  }
  options.onReady?.(served)
  if (options.detach) return result

  const following = new AbortController()
  let stopping: Promise<{stopMs: number}> | undefined
  const interrupt = onInterrupt({
    onFirst: (signal) => {
      result.stoppedBy = signal
      options.onStopping?.(signal)
      stopping = stopContainer(engine, served.container.id, {remove: false, timeoutSeconds: 10})
    },
    // A second Ctrl-C does not cut the stop short: exiting then would leave the container behind, running.
    secondExits: false,
  })
  try {
    // Logs end when the container stops, whoever stopped it.
    await engine.logs.follow(
      served.container.id,
      options.logs ?? {stderr: process.stderr, stdout: process.stdout},
      following.signal,
    )
    if (stopping) {
      result.stopMs = (await stopping).stopMs
      return result
    }
    const state = await engine.containers.inspect(served.container.id)
    if (!state)
      throw new MlshipError(
        `The container of ${served.image} was removed while it served (\`docker rm -f\` elsewhere?).`,
        {
          code: 'CONTAINER_EXITED',
          exitCode: ExitCode.containerUnhealthy,
        },
      )
    // Stopped from elsewhere (`docker stop`) and the server shut down cleanly: not a failure.
    if (state.exitCode === 0 && !state.oomKilled) {
      result.stoppedBy = 'external'
      return result
    }
    const logs = await containerLogTail(engine, served.container.id, 30)
    const tail = logs ? `\nLast log lines:\n${logs.replace(/^/gm, '  | ')}` : ''
    throw new MlshipError(
      `The container of ${served.image} stopped on its own (exit code ${state.exitCode}${state.oomKilled ? ', out of memory' : ''}).${tail}`,
      {
        code: 'CONTAINER_EXITED',
        details: {exitCode: state.exitCode, logs, oomKilled: state.oomKilled},
        exitCode: ExitCode.containerUnhealthy,
        suggestions: logSuggestions(logs, served.image),
      },
    )
  } finally {
    interrupt.dispose()
    following.abort()
    await removeContainer(engine, served.container.id)
  }
}
