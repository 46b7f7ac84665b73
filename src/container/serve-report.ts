import {flagUsageError} from '../errors.js'
import type {ServedContainer, ServeInContainerResult} from './serve-container.js'

/** --gpus: "all", or how many GPUs the container gets. */
export function parseGpus(value: string | undefined): 'all' | number | undefined {
  if (value === undefined || value === 'all') return value
  if (/^[1-9]\d*$/.test(value)) return Number(value)
  throw flagUsageError(`--gpus ${value}: expected "all" or a number of GPUs`)
}

/** The `ready` event of `serve --json`, once the container answers. */
export function containerReadyEvent(served: ServedContainer) {
  const {id, name, url} = served.container
  return {container: {id, name}, event: 'ready' as const, image: served.image, readyMs: served.readyMs, url}
}

/** For stderr: what the build did, when serve built the image. */
export function containerBuildLine(served: ServedContainer): string | undefined {
  const {build} = served
  if (!build) return undefined
  return `${build.upToDate ? 'Image up to date' : `Built in ${build.buildSeconds.toFixed(1)} s`}: ${served.image}`
}

/** For stdout: where the container serves, and what to do next (try it, or how to stop it when detached). */
export function containerReadyText(served: ServedContainer, detached: boolean): string {
  const {id, name, url} = served.container
  const ready = `ready in ${(served.readyMs / 1000).toFixed(1)} s`
  return [
    `Serving ${served.image} at ${url}  (container ${name}, ${id.slice(0, 12)}; ${ready})`,
    detached
      ? `Detached. Stop it with: docker stop ${name}`
      : `Try:  curl -s ${url}/health\nAPI page: ${url}/docs\nPress Ctrl-C to stop.`,
  ].join('\n')
}

/** For stderr, once a foreground container is gone: who stopped it, and how long its graceful stop took. */
export function containerStoppedLine(result: ServeInContainerResult): string {
  const how =
    result.stoppedBy === 'external'
      ? 'was stopped from outside'
      : `stopped in ${((result.stopMs ?? 0) / 1000).toFixed(1)} s`
  return `Container ${result.container.name} ${how} and was removed.`
}
