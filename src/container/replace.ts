import type {DockerEngine} from '../docker/engine.js'
import {ExitCode, MlshipError} from '../errors.js'
import {removeContainer, type RunningContainer, runContainer, stopContainer, waitReady} from './container.js'

export interface ReplaceContainerOptions {
  engine: DockerEngine
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
  const old = await engine.docker.getContainer(options.container).inspect()
  const portBindings = (old.HostConfig.PortBindings ?? {}) as Record<
    string,
    Array<{HostIp?: string; HostPort?: string}>
  >
  const bindings = Object.entries(portBindings)
  const [portKey, [binding] = []] = bindings[0] ?? []
  if (!portKey || !binding) {
    throw new MlshipError(`Container ${old.Name} publishes no port, so mlship cannot replace it.`, {
      code: 'CONTAINER_NO_PORT',
      exitCode: ExitCode.usage,
    })
  }
  const containerPort = Number(portKey.split('/')[0])
  const hostIp = binding.HostIp || '127.0.0.1'
  const oldHostPort = Number(old.NetworkSettings.Ports?.[portKey]?.[0]?.HostPort ?? binding.HostPort)
  const oldUrl = `http://${hostIp === '0.0.0.0' ? '127.0.0.1' : hostIp}:${oldHostPort}`
  const gpus = old.HostConfig.DeviceRequests?.length ? ('all' as const) : undefined
  const labels = Object.fromEntries(
    Object.entries(old.Config.Labels ?? {}).filter(([key]) => key === 'dev.mlship.managed'),
  )

  if (strategy === 'stop-first') await stopContainer(engine, old.Id)
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
    if (strategy === 'start-first') await stopContainer(engine, old.Id)
    return {current, old: {id: old.Id, url: oldUrl}, readyMs, strategy}
  } catch (error) {
    // The replacement never became ready: remove it. With start-first the old one still serves.
    await removeContainer(engine, current.id)
    throw error
  }
}
