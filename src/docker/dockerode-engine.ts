/**
 * The interfaces of images.ts and containers.ts over dockerode: the one module that talks the Engine API. Loaded by
 * connectEngine() when a command reaches the engine (dockerode pulls in ssh2, protobufjs and grpc).
 */
import Docker from 'dockerode'
import {PassThrough} from 'node:stream'

import type {
  ContainerDetails,
  ContainerHealth,
  ContainerLogs,
  ContainerRunner,
  ContainerSpec,
  ContainerSummary,
  PortPublication,
} from './containers.js'
import {type DockerEngine, EngineError, engineStatus} from './engine.js'
import type {
  BuildRequest,
  EngineAuthConfig,
  ImageBuilder,
  ImageDetails,
  ImageStore,
  ImageSummary,
  ImageTransfer,
} from './images.js'
import {type DialingModem, redactRegistryHeaders} from './secret-headers.js'
import {engineEvents, type EngineStreamEvent} from './stream.js'

/** A dockerode client for DOCKER_HOST (or the default socket), ready to connect: `connect()` asks its version. */
export function dockerodeEngine(env: NodeJS.ProcessEnv, endpoint: string): {connect(): Promise<DockerEngine>} {
  const docker = new Docker(modemOptions(env))
  redactRegistryHeaders(docker.modem as unknown as DialingModem)
  return {
    async connect() {
      const version = await docker.version()
      return {
        builder: new DockerodeBuilder(docker),
        containers: new DockerodeContainers(docker),
        endpoint,
        images: new DockerodeImages(docker),
        info: {apiVersion: version.ApiVersion, arch: version.Arch, os: version.Os, version: version.Version},
        logs: new DockerodeLogs(docker),
        transfer: new DockerodeTransfer(docker),
      }
    },
  }
}

function modemOptions(env: NodeJS.ProcessEnv): Docker.DockerOptions | undefined {
  // docker-modem reads DOCKER_HOST & co. from process.env itself; only a different env needs explicit options.
  if (env === process.env) return undefined
  const host = env.DOCKER_HOST
  if (!host) return {socketPath: '/var/run/docker.sock'}
  if (host.startsWith('unix://')) return {socketPath: host.slice('unix://'.length) || '/var/run/docker.sock'}
  const url = new URL(host.includes('//') ? host : `tcp://${host}`)
  return {
    host: url.hostname,
    port: url.port,
    protocol: env.DOCKER_TLS_VERIFY === '1' || url.port === '2376' ? 'https' : 'http',
  }
}

/** Runs an engine request, reporting its failure as an EngineError. */
async function request<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send()
  } catch (error) {
    throw EngineError.from(error)
  }
}

/** Runs an engine request whose 'not-found' (and the other statuses given) mean there is nothing to do. */
async function tolerating<T>(statuses: string[], send: () => Promise<T>): Promise<T | undefined> {
  try {
    return await send()
  } catch (error) {
    if (statuses.includes(engineStatus(error))) return undefined
    throw EngineError.from(error)
  }
}

class DockerodeImages implements ImageStore {
  constructor(private readonly docker: Docker) {}

  async inspect(reference: string): Promise<ImageDetails | undefined> {
    const info = await tolerating(['not-found'], () => this.docker.getImage(reference).inspect())
    if (!info) return undefined
    return {
      architecture: info.Architecture,
      env: info.Config?.Env ?? [],
      exposedPorts: Object.keys(info.Config?.ExposedPorts ?? {}),
      id: info.Id,
      labels: info.Config?.Labels ?? {},
      layers: info.RootFS.Layers ?? [],
      os: info.Os,
      sizeBytes: info.Size,
    }
  }

  async listByLabels(labels: string[], options: {intermediate?: boolean} = {}): Promise<ImageSummary[]> {
    const images = await request(() =>
      this.docker.listImages({all: Boolean(options.intermediate), filters: {label: labels}}),
    )
    return images.map((image) => ({
      created: image.Created,
      id: image.Id,
      labels: (image.Labels as Record<string, string> | null) ?? {},
      parentId: image.ParentId,
    }))
  }

  async tag(image: string, repository: string, tag: string): Promise<void> {
    await request(() => this.docker.getImage(image).tag({repo: repository, tag}))
  }

  async remove(reference: string, options: {force?: boolean; prune?: boolean} = {}): Promise<void> {
    await tolerating(['not-found'], () =>
      this.docker.getImage(reference).remove({force: Boolean(options.force), noprune: options.prune === false}),
    )
  }
}

class DockerodeBuilder implements ImageBuilder {
  constructor(private readonly docker: Docker) {}

  async build(context: NodeJS.ReadableStream, build: BuildRequest): Promise<AsyncIterable<EngineStreamEvent>> {
    // `t` given as a list becomes one t= parameter per tag, which the Engine API reads as several tags.
    const options: Record<string, unknown> = {forcerm: true, nocache: build.noCache, rm: true, t: build.tags}
    if (build.platform) options.platform = build.platform
    const stream = await request(() => this.docker.buildImage(context, options))
    return engineEvents(stream as AsyncIterable<Buffer>)
  }
}

class DockerodeTransfer implements ImageTransfer {
  constructor(private readonly docker: Docker) {}

  async push(repository: string, tag: string, auth?: EngineAuthConfig): Promise<AsyncIterable<EngineStreamEvent>> {
    const stream = await request(() => this.docker.getImage(`${repository}:${tag}`).push({authconfig: auth, tag}))
    return engineEvents(stream as AsyncIterable<Buffer>)
  }

  async pull(reference: string, auth?: EngineAuthConfig): Promise<AsyncIterable<EngineStreamEvent>> {
    const stream = (await request(() => this.docker.pull(reference, {authconfig: auth}))) as AsyncIterable<Buffer>
    return engineEvents(stream)
  }
}

class DockerodeContainers implements ContainerRunner {
  constructor(private readonly docker: Docker) {}

  async create(spec: ContainerSpec): Promise<string> {
    const container = await request(() =>
      this.docker.createContainer({
        Cmd: spec.command,
        Env: Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`),
        ExposedPorts: spec.publish ? {[`${spec.publish.containerPort}/tcp`]: {}} : undefined,
        HostConfig: containerHostConfig(spec),
        Image: spec.image,
        Labels: spec.labels,
        name: spec.name,
      }),
    )
    return container.id
  }

  async start(id: string): Promise<void> {
    await request(() => this.docker.getContainer(id).start())
  }

  async inspect(id: string): Promise<ContainerDetails | undefined> {
    const info = await tolerating(['not-found'], () => this.docker.getContainer(id).inspect())
    if (!info) return undefined
    const bindings = (info.HostConfig.PortBindings ?? {}) as Record<
      string,
      Array<{HostIp?: string; HostPort?: string} | undefined>
    >
    const published: PortPublication[] = Object.entries(bindings).map(([key, [binding]]) => ({
      containerPort: Number(key.split('/')[0]),
      hostIp: binding?.HostIp ?? '',
      hostPort: Number(info.NetworkSettings.Ports?.[key]?.[0]?.HostPort ?? binding?.HostPort ?? 0) || 0,
    }))
    const health = info.State.Health?.Status as ContainerHealth | 'none' | undefined
    return {
      exitCode: info.State.ExitCode,
      gpus: (info.HostConfig.DeviceRequests?.length ?? 0) > 0,
      health: health === 'none' ? undefined : health,
      id: info.Id,
      imageId: info.Image,
      labels: info.Config.Labels ?? {},
      name: info.Name.replace(/^\//, ''),
      oomKilled: info.State.OOMKilled,
      pid: info.State.Pid,
      published,
      running: info.State.Running,
    }
  }

  async stop(id: string, timeoutSeconds: number): Promise<void> {
    // 304: already stopped; 404: gone.
    await tolerating(['not-modified', 'not-found'], () => this.docker.getContainer(id).stop({t: timeoutSeconds}))
  }

  async wait(id: string): Promise<number> {
    const {StatusCode} = (await request(() => this.docker.getContainer(id).wait())) as {StatusCode: number}
    return StatusCode
  }

  async remove(id: string): Promise<void> {
    // 404: already gone; 409: removal already in progress.
    await tolerating(['not-found', 'conflict'], () => this.docker.getContainer(id).remove({force: true, v: true}))
  }

  async listByLabels(labels: string[], options: {all?: boolean} = {}): Promise<ContainerSummary[]> {
    const containers = await request(() =>
      this.docker.listContainers({all: Boolean(options.all), filters: {label: labels}}),
    )
    return containers.map((container) => ({
      id: container.Id,
      imageId: container.ImageID,
      labels: container.Labels,
      name: container.Names[0]?.replace(/^\//, '') ?? container.Id.slice(0, 12),
    }))
  }

  async runtimes(): Promise<string[]> {
    const info = (await request(() => this.docker.info())) as {Runtimes?: Record<string, unknown>}
    return Object.keys(info.Runtimes ?? {})
  }
}

/** Port publishing and GPUs of a container (`--gpus all` is a DeviceRequest with Count -1 for the "gpu" capability). */
export function containerHostConfig(
  spec: Pick<ContainerSpec, 'publish' | 'gpus' | 'readOnlyRootFilesystem'>,
): Docker.HostConfig {
  const hostConfig: Docker.HostConfig = {}
  if (spec.publish) {
    const {containerPort, hostIp, hostPort} = spec.publish
    hostConfig.PortBindings = {
      [`${containerPort}/tcp`]: [{HostIp: hostIp, HostPort: hostPort === 0 ? '' : String(hostPort)}],
    }
  }
  if (spec.gpus !== undefined) {
    hostConfig.DeviceRequests = [{Capabilities: [['gpu']], Count: spec.gpus === 'all' ? -1 : spec.gpus, Driver: ''}]
  }
  if (spec.readOnlyRootFilesystem) hostConfig.ReadonlyRootfs = true
  return hostConfig
}

class DockerodeLogs implements ContainerLogs {
  constructor(private readonly docker: Docker) {}

  async tail(id: string, lines: number): Promise<string> {
    const buffer = await request(() =>
      this.docker.getContainer(id).logs({follow: false, stderr: true, stdout: true, tail: lines}),
    )
    return demuxBuffer(buffer)
  }

  async follow(
    id: string,
    out: {stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream},
    signal?: AbortSignal,
  ): Promise<void> {
    const stream = (await request(() =>
      this.docker.getContainer(id).logs({follow: true, since: 0, stderr: true, stdout: true}),
    )) as NodeJS.ReadableStream & {destroy?: () => void}
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    stdout.pipe(out.stdout, {end: false})
    stderr.pipe(out.stderr, {end: false})
    this.docker.modem.demuxStream(stream, stdout, stderr)
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
