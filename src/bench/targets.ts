import {ExitCode, MlshipError} from '../errors.js'
import type {TargetStarter} from './bench.js'
import {containerTarget} from './container-target.js'
import {inProcessTarget} from './in-process-target.js'
import {type BenchDevice, endpointUrl, urlTarget} from './target.js'

export interface ChooseTargetOptions {
  /** The model directory: the model to serve, and where payloads come from. */
  dir: string
  /** A running server (mlship or not): benchmarked wherever it runs. */
  url?: string
  /** The endpoint's path (default: the url's path, else /predict). */
  path?: string
  method: string
  /** The serving app in this process instead of a container. */
  inProcess?: boolean
  /** In-process inference worker threads (default: serving.workers of model.yaml). */
  workers?: number
  /** Container target: run this image instead of building one. */
  image?: string
  /** Container target: the base image of the build. */
  baseImage?: string
  devices: readonly BenchDevice[]
  /** The key a running server with serving.auth on wants (the targets mlship starts mint their own). */
  apiKey?: string
  onNote?: (message: string) => void
}

const usage = (message: string, suggestions: string[] = []) =>
  new MlshipError(message, {code: 'BENCH_USAGE', exitCode: ExitCode.usage, suggestions})

/** The server a benchmark loads: a running one at a URL, the serving app in this process, or the model's container. */
export function chooseTarget(options: ChooseTargetOptions): TargetStarter {
  if ((options.url || options.inProcess) && (options.image || options.baseImage)) {
    throw usage('--image and --base-image are for the container target: leave out --url and --local to use them')
  }
  if (options.url) {
    if (options.devices.includes('gpu')) {
      throw usage('--devices gpu needs a server mlship starts; with --url the server runs wherever it runs', [
        'Leave out --devices with --url.',
      ])
    }
    const url = endpointUrl(options.url, {method: options.method, path: options.path})
    return {gpuUnavailableReason: async () => null, kind: 'url', start: () => urlTarget(url, options.apiKey)}
  }
  if (options.inProcess) return inProcessTarget({dir: options.dir, path: options.path, workers: options.workers})
  return containerTarget({
    baseImage: options.baseImage,
    dir: options.dir,
    image: options.image,
    onNote: options.onNote,
    path: options.path,
  })
}

/** `cpu`, `gpu` or `cpu,gpu` (any case, repeats dropped, in the order given); empty means cpu. */
export function parseBenchDevices(value: string): BenchDevice[] {
  const devices = value
    .split(',')
    .map((d) => d.trim().toLowerCase())
    .filter(Boolean)
  for (const device of devices) {
    if (device !== 'cpu' && device !== 'gpu') {
      throw usage(`--devices ${value}: "${device}" is not a device (use cpu, gpu or cpu,gpu)`)
    }
  }
  if (devices.length === 0) return ['cpu']
  return [...new Set(devices)] as BenchDevice[]
}
