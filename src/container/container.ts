import http from 'node:http'

import {LABELS} from '../image/labels.js'
import type {ContainerSummary} from '../docker/containers.js'
import {type DockerEngine, engineMessage, engineStatus} from '../docker/engine.js'
import type {ImageDetails} from '../docker/images.js'
import {errorMessage, ExitCode, MlshipError} from '../errors.js'

/** What serving a container needs of the engine: its images (labels, ports), its containers and their logs. */
export type ContainerEngine = Pick<DockerEngine, 'endpoint' | 'images' | 'containers' | 'logs'>

export interface RunContainerOptions {
  engine: Pick<DockerEngine, 'endpoint' | 'images' | 'containers'>
  image: string
  /** The port the server listens on inside the container (serving.port). */
  containerPort: number
  /** Host port to publish on; 0 lets the engine pick a free one. */
  hostPort: number
  /** Host address the port is published on: 127.0.0.1 unless the server should be reachable from elsewhere. */
  hostIp?: string
  name?: string
  env?: Record<string, string>
  /** Pass GPUs through: "all" or a count (DeviceRequests, as `docker run --gpus`). */
  gpus?: 'all' | number
  /** Labels on the container; mlship adds dev.mlship.managed=true and the model name and version. */
  labels?: Record<string, string>
}

export interface RunningContainer {
  id: string
  name: string
  image: string
  hostIp: string
  hostPort: number
  url: string
}

/** Creates and starts a container of an image with its port published, and reports where it listens. */
export async function runContainer(options: RunContainerOptions): Promise<RunningContainer> {
  const {containers} = options.engine
  const image = await inspectImage(options.engine, options.image)
  const hostIp = options.hostIp ?? '127.0.0.1'
  const labels: Record<string, string> = {[LABELS.managed]: 'true', ...options.labels}
  for (const key of [LABELS.modelName, LABELS.modelVersion]) {
    const value = image.labels[key]
    if (value && !labels[key]) labels[key] = value
  }
  let id: string
  try {
    id = await containers.create({
      env: options.env,
      gpus: options.gpus,
      image: options.image,
      labels,
      name: options.name,
      publish: {containerPort: options.containerPort, hostIp, hostPort: options.hostPort},
    })
  } catch (error) {
    if (engineStatus(error) === 'conflict') {
      throw new MlshipError(`A container named ${options.name} already exists: ${engineMessage(error)}`, {
        cause: error,
        code: 'CONTAINER_CONFLICT',
        exitCode: ExitCode.usage,
        suggestions: [`Stop it first (\`docker rm -f ${options.name}\`), or pass another --name.`],
      })
    }
    throw new MlshipError(`Cannot create a container of ${options.image}: ${engineMessage(error)}`, {
      cause: error,
      code: 'CONTAINER_CREATE_FAILED',
    })
  }
  try {
    await containers.start(id)
  } catch (error) {
    await removeContainer(options.engine, id)
    const message = engineMessage(error)
    const portInUse = /port is already allocated|address already in use/i.test(message)
    throw new MlshipError(`Cannot start the container of ${options.image}: ${message}`, {
      cause: error,
      code: portInUse
        ? 'PORT_IN_USE'
        : options.gpus !== undefined && /gpu|nvidia/i.test(message)
          ? 'GPU_UNAVAILABLE'
          : 'CONTAINER_START_FAILED',
      exitCode: portInUse ? ExitCode.usage : ExitCode.containerUnhealthy,
      suggestions: portInUse
        ? [`Port ${options.hostPort} is taken on this machine: pass another --port (or 0 for any free port).`]
        : options.gpus !== undefined
          ? ['GPUs need the NVIDIA Container Toolkit on the Docker host; leave out --gpus to run on the CPU.']
          : [],
    })
  }
  const info = await containers.inspect(id)
  if (!info) throw containerGone(id, options.image)
  const published = info.published.find((port) => port.containerPort === options.containerPort)
  const hostPort = published?.hostPort || options.hostPort
  return {hostIp, hostPort, id: info.id, image: options.image, name: info.name, url: serverUrl(hostIp, hostPort)}
}

/** Where a published port answers from this machine: 0.0.0.0 (every address) through loopback. */
export function serverUrl(hostIp: string, hostPort: number): string {
  const urlHost = hostIp === '0.0.0.0' || hostIp === '' ? '127.0.0.1' : hostIp.includes(':') ? `[${hostIp}]` : hostIp
  return `http://${urlHost}:${hostPort}`
}

function containerGone(id: string, image: string): MlshipError {
  return new MlshipError(
    `The container ${id.slice(0, 12)} of ${image} was removed (by someone else) while it started.`,
    {
      code: 'CONTAINER_GONE',
      exitCode: ExitCode.containerUnhealthy,
      suggestions: ['Run again; if it happens again, look for another tool removing containers on this engine.'],
    },
  )
}

export async function inspectImage(
  engine: Pick<DockerEngine, 'endpoint' | 'images'>,
  image: string,
): Promise<ImageDetails> {
  const details = await engine.images.inspect(image)
  if (details) return details
  throw new MlshipError(`No image ${image} on the Docker engine at ${engine.endpoint}.`, {
    code: 'IMAGE_NOT_FOUND',
    exitCode: ExitCode.usage,
    suggestions: ['Build it with `mlship build`, or leave out --image to build and serve in one step.'],
  })
}

export interface WaitReadyOptions {
  engine: Pick<DockerEngine, 'containers' | 'logs'>
  container: RunningContainer
  /** Give up after this long. */
  timeoutMs: number
  /** Path that answers 200 once the server can take traffic. */
  readyPath?: string
  /** How long to wait between two tries (default 50 ms; a benchmark of the time to ready asks more often). */
  pollMs?: number
  signal?: AbortSignal
}

/**
 * Waits until the server in the container answers 200 on its readiness route, or the engine reports the
 * container healthy. Fails at once when the container exits, and after timeoutMs otherwise; the error carries the
 * last log lines (exit 5). The container is left as it is: the caller decides to remove it.
 */
export async function waitReady(options: WaitReadyOptions): Promise<{readyMs: number}> {
  const started = performance.now()
  const {containers} = options.engine
  const url = `${options.container.url}${options.readyPath ?? '/ready'}`
  let lastInspect = 0
  for (;;) {
    if (options.signal?.aborted)
      throw new MlshipError('Interrupted while waiting for the container.', {
        code: 'INTERRUPTED',
        exitCode: ExitCode.containerUnhealthy,
      })
    if (await answers200(url)) return {readyMs: Math.round(performance.now() - started)}
    const now = performance.now()
    if (now - lastInspect > 250) {
      lastInspect = now
      const info = await containers.inspect(options.container.id)
      if (!info) throw containerGone(options.container.id, options.container.image)
      if (info.health === 'healthy') return {readyMs: Math.round(now - started)}
      if (!info.running) {
        throw await unhealthy(options, `the container exited with code ${info.exitCode} before it was ready`)
      }
      if (info.health === 'unhealthy') throw await unhealthy(options, 'the container became unhealthy')
    }
    if (now - started > options.timeoutMs) {
      throw await unhealthy(options, `it was not ready within ${Math.round(options.timeoutMs / 1000)} s`)
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 50))
  }
}

function answers200(url: string): Promise<boolean> {
  // node:http rather than fetch: its timer keeps the event loop alive, so a script that only waits here cannot end
  // with a promise that never settles (fetch's AbortSignal.timeout timer is unref'd).
  return new Promise((resolve) => {
    const request = http.get(url, {agent: false, timeout: 1000}, (response) => {
      response.resume()
      resolve(response.statusCode === 200)
    })
    request.on('timeout', () => request.destroy())
    request.on('error', () => resolve(false))
  })
}

async function unhealthy(options: WaitReadyOptions, why: string): Promise<MlshipError> {
  const logs = await containerLogTail(options.engine, options.container.id, 30)
  return new MlshipError(
    `The container of ${options.container.image} did not become ready: ${why}.${logs ? `\nLast log lines:\n${logs.replace(/^/gm, '  | ')}` : ''}`,
    {
      code: 'CONTAINER_UNHEALTHY',
      details: {container: options.container.id, image: options.container.image, logs, reason: why},
      exitCode: ExitCode.containerUnhealthy,
      suggestions: logSuggestions(logs, options.container.image),
    },
  )
}

/** What to do next about a container that failed: its log lines when it wrote some, else how to see what it does. */
export function logSuggestions(logs: string, image: string): string[] {
  const local = '`mlship serve --local` runs the same server without Docker, which can be easier to debug.'
  return logs
    ? [`Read the log lines above; ${local}`]
    : [
        `The container wrote no log line at all: is ${image} an mlship image? \`docker run --rm ${image}\` shows what it does.`,
        local,
      ]
}

/** The last lines a container wrote to stdout and stderr. */
export async function containerLogTail(engine: Pick<DockerEngine, 'logs'>, id: string, lines: number): Promise<string> {
  try {
    return (await engine.logs.tail(id, lines)).trimEnd()
  } catch (error) {
    return `(logs unavailable: ${errorMessage(error)})`
  }
}

/**
 * Stops a container gracefully (SIGTERM, then SIGKILL after timeoutSeconds) and removes it. A container that is
 * already stopped (304) or gone (404) is not an error.
 */
export async function stopContainer(
  engine: Pick<DockerEngine, 'containers'>,
  id: string,
  options: {timeoutSeconds?: number; remove?: boolean} = {},
): Promise<{stopMs: number}> {
  const started = performance.now()
  await engine.containers.stop(id, options.timeoutSeconds ?? 10)
  const stopMs = Math.round(performance.now() - started)
  if (options.remove !== false) await removeContainer(engine, id)
  return {stopMs}
}

export async function removeContainer(engine: Pick<DockerEngine, 'containers'>, id: string): Promise<void> {
  await engine.containers.remove(id)
}

/** Containers mlship started for a model (running ones unless `all`). */
export async function findServedContainers(
  engine: Pick<DockerEngine, 'containers'>,
  modelName: string,
  options: {all?: boolean} = {},
): Promise<ContainerSummary[]> {
  return engine.containers.listByLabels([`${LABELS.managed}=true`, `${LABELS.modelName}=${modelName}`], options)
}
