import {LABELS} from '../image/labels.js'
import {ExitCode, MlshipError} from '../errors.js'
import {
  type ContainerEngine,
  removeContainer,
  type RunningContainer,
  runContainer,
  serverUrl,
  stopContainer,
  waitReady,
} from './container.js'

export interface ReplaceContainerOptions {
  engine: ContainerEngine
  /** The running container to replace (id or name). */
  container: string
  /** The image the replacement runs. */
  image: string
  /**
   * start-first (default): the new container starts on another host port, and the old one is stopped only once the
   * new one is ready, so a server is always up; the URL changes. Docker cannot hand a published host port from one
   * container to another, so keeping the URL without a gap needs a proxy in front.
   * stop-first: the old container stops first and the new one takes its host port; the URL stays, with a gap of
   * about the start time of the new one (under 2 s for examples/iris).
   */
  strategy?: 'start-first' | 'stop-first'
  timeoutMs?: number
}

export interface ReplaceContainerResult {
  old: {id: string; url: string}
  current: RunningContainer
  strategy: 'start-first' | 'stop-first'
  readyMs: number
}

/** Replaces a container mlship serves with one of another image (a rollback, a new version). */
export async function replaceContainer(options: ReplaceContainerOptions): Promise<ReplaceContainerResult> {
  const {engine} = options
  const strategy = options.strategy ?? 'start-first'
  const old = await engine.containers.inspect(options.container)
  if (!old) {
    throw new MlshipError(`No container ${options.container} on the Docker engine at ${engine.endpoint}.`, {
      code: 'CONTAINER_NOT_FOUND',
      exitCode: ExitCode.usage,
      suggestions: ['`docker ps` lists the running containers.'],
    })
  }
  const [published] = old.published
  if (!published) {
    throw new MlshipError(`Container ${old.name} publishes no port, so mlship cannot replace it.`, {
      code: 'CONTAINER_NO_PORT',
      exitCode: ExitCode.usage,
    })
  }
  const {containerPort} = published
  const hostIp = published.hostIp || '127.0.0.1'
  const oldHostPort = published.hostPort
  const oldUrl = serverUrl(hostIp, oldHostPort)
  const gpus = old.gpus ? ('all' as const) : undefined
  const labels = Object.fromEntries(Object.entries(old.labels).filter(([key]) => key === LABELS.managed))

  if (strategy === 'stop-first') await stopContainer(engine, old.id)
  const current = await runContainer({
    containerPort,
    engine,
    gpus,
    hostIp,
    hostPort: strategy === 'stop-first' ? oldHostPort : 0,
    image: options.image,
    labels,
  })
  try {
    const {readyMs} = await waitReady({container: current, engine, timeoutMs: options.timeoutMs ?? 60_000})
    if (strategy === 'start-first') await stopContainer(engine, old.id)
    return {current, old: {id: old.id, url: oldUrl}, readyMs, strategy}
  } catch (error) {
    // The replacement never became ready: remove it. With start-first the old one still serves.
    await removeContainer(engine, current.id)
    throw error
  }
}
