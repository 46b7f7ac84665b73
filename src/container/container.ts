import type Docker from 'dockerode'
import http from 'node:http'
import {PassThrough} from 'node:stream'

import {LABELS} from '../build/labels.js'
import {type DockerEngine, engineMessage, engineStatus} from '../docker/engine.js'
import {errorMessage, ExitCode, MlshipError} from '../errors.js'

export interface RunContainerOptions {
  engine: DockerEngine
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
  const {docker} = options.engine
  const image = await inspectImage(options.engine, options.image)
  const hostIp = options.hostIp ?? '127.0.0.1'
  const portKey = `${options.containerPort}/tcp`
  const labels: Record<string, string> = {[LABELS.managed]: 'true', ...options.labels}
  for (const key of [LABELS.modelName, LABELS.modelVersion]) {
    const value = image.Config?.Labels?.[key]
    if (value && !labels[key]) labels[key] = value
  }
  const hostConfig = containerHostConfig({...options, hostIp})
  let container: Docker.Container
  try {
    container = await docker.createContainer({
      Env: Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`),
      ExposedPorts: {[portKey]: {}},
      HostConfig: hostConfig,
      Image: options.image,
      Labels: labels,
      name: options.name,
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
    await container.start()
  } catch (error) {
    await removeContainer(options.engine, container.id)
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
  const info = await container.inspect()
  const binding = info.NetworkSettings.Ports?.[portKey]?.[0]
  const hostPort = Number(binding?.HostPort ?? options.hostPort)
  const urlHost = hostIp === '0.0.0.0' || hostIp === '' ? '127.0.0.1' : hostIp.includes(':') ? `[${hostIp}]` : hostIp
  return {
    hostIp,
    hostPort,
    id: info.Id,
    image: options.image,
    name: info.Name.replace(/^\//, ''),
    url: `http://${urlHost}:${hostPort}`,
  }
}

/** Port publishing and GPUs of a container (`--gpus all` is a DeviceRequest with Count -1 for the "gpu" capability). */
export function containerHostConfig(
  options: Pick<RunContainerOptions, 'containerPort' | 'hostPort' | 'hostIp' | 'gpus'>,
): Docker.HostConfig {
  const hostConfig: Docker.HostConfig = {
    PortBindings: {
      [`${options.containerPort}/tcp`]: [
        {HostIp: options.hostIp ?? '127.0.0.1', HostPort: options.hostPort === 0 ? '' : String(options.hostPort)},
      ],
    },
  }
  if (options.gpus !== undefined) {
    hostConfig.DeviceRequests = [
      {Capabilities: [['gpu']], Count: options.gpus === 'all' ? -1 : options.gpus, Driver: ''},
    ]
  }
  return hostConfig
}

export async function inspectImage(engine: DockerEngine, image: string): Promise<Docker.ImageInspectInfo> {
  try {
    return await engine.docker.getImage(image).inspect()
  } catch (error) {
    if (engineStatus(error) === 'not-found') {
      throw new MlshipError(`No image ${image} on the Docker engine at ${engine.endpoint}.`, {
        cause: error,
        code: 'IMAGE_NOT_FOUND',
        exitCode: ExitCode.usage,
        suggestions: ['Build it with `mlship build`, or leave out --image to build and serve in one step.'],
      })
    }
    throw error
  }
}

export interface WaitReadyOptions {
  engine: DockerEngine
  container: RunningContainer
  /** Give up after this long. */
  timeoutMs: number
  /** Path that answers 200 once the server can take traffic. */
  readyPath?: string
  signal?: AbortSignal
}

/**
 * Waits until the server in the container answers 200 on its readiness route, or the engine reports the
 * container healthy. Fails at once when the container exits, and after timeoutMs otherwise; the error carries the
 * last log lines (exit 5). The container is left as it is: the caller decides to remove it.
 */
export async function waitReady(options: WaitReadyOptions): Promise<{readyMs: number}> {
  const started = performance.now()
  const container = options.engine.docker.getContainer(options.container.id)
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
      const info = await container.inspect()
      if (info.State.Health?.Status === 'healthy') return {readyMs: Math.round(now - started)}
      if (!info.State.Running) {
        throw await unhealthy(options, `the container exited with code ${info.State.ExitCode} before it was ready`)
      }
      if (info.State.Health?.Status === 'unhealthy') throw await unhealthy(options, 'the container became unhealthy')
    }
    if (now - started > options.timeoutMs) {
      throw await unhealthy(options, `it was not ready within ${Math.round(options.timeoutMs / 1000)} s`)
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
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
export async function containerLogTail(engine: DockerEngine, id: string, lines: number): Promise<string> {
  try {
    const buffer = await engine.docker.getContainer(id).logs({follow: false, stderr: true, stdout: true, tail: lines})
    return demuxBuffer(buffer).trimEnd()
  } catch (error) {
    return `(logs unavailable: ${errorMessage(error)})`
  }
}

/** Docker's multiplexed log format: 8-byte frame headers (stream, 0, 0, 0, size as uint32 BE) before each chunk. */
export function demuxBuffer(buffer: Buffer): string {
  const parts: string[] = []
  let offset = 0
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4)
    parts.push(buffer.subarray(offset + 8, offset + 8 + size).toString('utf8'))
    offset += 8 + size
  }
  // A container with a TTY writes raw bytes without frames.
  return offset === 0 && buffer.length > 0 ? buffer.toString('utf8') : parts.join('')
}

/** Follows a container's logs (stdout and stderr demultiplexed) until the container stops or signal aborts. */
export async function followLogs(
  engine: DockerEngine,
  id: string,
  out: {stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream},
  signal?: AbortSignal,
): Promise<void> {
  const stream = (await engine.docker
    .getContainer(id)
    .logs({follow: true, since: 0, stderr: true, stdout: true})) as NodeJS.ReadableStream & {destroy?: () => void}
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  stdout.pipe(out.stdout, {end: false})
  stderr.pipe(out.stderr, {end: false})
  engine.docker.modem.demuxStream(stream, stdout, stderr)
  await new Promise<void>((resolve) => {
    const done = () => resolve()
    stream.on('end', done)
    stream.on('close', done)
    stream.on('error', done)
    signal?.addEventListener('abort', () => {
      stream.destroy?.()
      resolve()
    })
  })
}

/**
 * Stops a container gracefully (SIGTERM, then SIGKILL after timeoutSeconds) and removes it. A container that is
 * already stopped (304) or gone (404) is not an error.
 */
export async function stopContainer(
  engine: DockerEngine,
  id: string,
  options: {timeoutSeconds?: number; remove?: boolean} = {},
): Promise<{stopMs: number}> {
  const started = performance.now()
  const container = engine.docker.getContainer(id)
  try {
    await container.stop({t: options.timeoutSeconds ?? 10})
  } catch (error) {
    const status = engineStatus(error)
    if (status !== 'not-modified' && status !== 'not-found') throw error
  }
  const stopMs = Math.round(performance.now() - started)
  if (options.remove !== false) await removeContainer(engine, id)
  return {stopMs}
}

export async function removeContainer(engine: DockerEngine, id: string): Promise<void> {
  try {
    await engine.docker.getContainer(id).remove({force: true, v: true})
  } catch (error) {
    // 404: already gone; 409: removal already in progress.
    const status = engineStatus(error)
    if (status !== 'not-found' && status !== 'conflict') throw error
  }
}

/** Containers mlship started for a model (running ones unless `all`). */
export async function findServedContainers(
  engine: DockerEngine,
  modelName: string,
  options: {all?: boolean} = {},
): Promise<Docker.ContainerInfo[]> {
  return engine.docker.listContainers({
    all: Boolean(options.all),
    filters: {label: [`${LABELS.managed}=true`, `${LABELS.modelName}=${modelName}`]},
  })
}
