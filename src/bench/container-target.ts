import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'

import {buildImage} from '../image/build-image.js'
import {loadModelProject} from '../model/load-model.js'
import {connectEngine, type DockerEngine} from '../docker/engine.js'
import {inspectImage, runContainer, stopContainer, waitReady} from '../container/container.js'
import {errorMessage} from '../errors.js'
import {apiKeyHeaders} from '../serving/auth/client.js'
import type {TargetStarter} from './bench.js'
import {reportedExecutionProvider, type BenchDevice, type BenchTarget} from './target.js'
import {formatBytes} from '../util/bytes.js'

export interface ContainerTargetOptions {
  /** The model directory (or its model.yaml). */
  dir: string
  /** Run this image instead of building (CPU runs; GPU runs use `<image>-gpu`'s build unless imageGpu is given). */
  image?: string
  imageGpu?: string
  /** The tag a CPU build gets (default name:version, as `mlship build`); a GPU build adds "-gpu". */
  tag?: string
  /** Base image for builds (default: build.base_image of model.yaml). */
  baseImage?: string
  path?: string
  /** How long the container may take to become ready. */
  readyTimeoutMs?: number
  /** Told about build progress and other slow steps. */
  onNote?: (message: string) => void
  /** The engine to run on; the one DOCKER_HOST names, connected at the first use, when absent. */
  engine?: DockerEngine
}

/**
 * The model in the container `mlship build` makes: builds it if needed (an up-to-date image is reused at once),
 * runs it with its port published on 127.0.0.1 (a free port), waits until /ready answers, and removes it after.
 * GPU runs use the CUDA variant of the image and pass the GPUs through (DeviceRequests, as `docker run --gpus`).
 * A model with serving.auth on gets a key minted here, in the variable serving.auth.keys_env names, never shown.
 */
export function containerTarget(options: ContainerTargetOptions): TargetStarter {
  const apiKey = randomBytes(32).toString('hex')
  let engine = options.engine
  const connect = async () => (engine ??= await connectEngine({withoutDocker: 'mlship bench --local'}))
  return {
    gpuUnavailableReason: async () => {
      const runtimes = await (await connect()).containers.runtimes()
      const device = existsSync('/dev/nvidiactl') || existsSync('/proc/driver/nvidia/version')
      if (runtimes.includes('nvidia') || device) return null
      return `the Docker engine has no NVIDIA runtime (runtimes: ${runtimes.join(', ') || 'none'}) and this host has no NVIDIA device (/dev/nvidiactl)`
    },
    kind: 'container',
    start: async (device: BenchDevice): Promise<BenchTarget> => {
      const connected = await connect()
      const project = await loadModelProject(options.dir)
      const gpu = device === 'gpu'
      let image = gpu ? options.imageGpu : options.image
      let imageSizeBytes: number | null
      if (image) {
        imageSizeBytes = (await inspectImage(connected, image)).sizeBytes
      } else {
        const tag = `${options.tag ?? `${project.config.name}:${project.config.version}`}${gpu ? '-gpu' : ''}`
        options.onNote?.(`Building ${tag} (reused at once when up to date)...`)
        const built = await buildImage({
          baseImage: gpu ? undefined : options.baseImage,
          dir: options.dir,
          engine: connected,
          gpu,
          // `mlship build --base-image X` then `mlship bench`: the image built on X is the one to measure.
          reuseOtherBase: true,
          tags: [tag],
        })
        image = tag
        imageSizeBytes = built.sizeBytes
        options.onNote?.(
          `${built.upToDate ? 'Up to date' : `Built in ${built.buildSeconds.toFixed(1)} s`}: ${tag}, ${formatBytes(built.sizeBytes)}`,
        )
      }
      const started = performance.now()
      const container = await runContainer({
        containerPort: project.config.serving.port,
        engine: connected,
        env: {MLSHIP_DEVICE: gpu ? 'cuda' : 'cpu', [project.config.serving.auth.keys_env]: apiKey},
        gpus: gpu ? 'all' : undefined,
        hostPort: 0,
        image,
      })
      try {
        await waitReady({container, engine: connected, timeoutMs: options.readyTimeoutMs ?? 60_000})
      } catch (error) {
        await stopContainer(connected, container.id, {timeoutSeconds: 2}).catch(() => {})
        throw error
      }
      const timeToReadyMs = Math.round(performance.now() - started)
      const headers = apiKeyHeaders(project.config.serving.auth.enabled ? apiKey : undefined)
      return {
        close: async () => {
          await stopContainer(connected, container.id, {timeoutSeconds: 10}).catch((error: unknown) => {
            options.onNote?.(`Could not remove container ${container.id.slice(0, 12)}: ${errorMessage(error)}`)
          })
        },
        device,
        executionProvider: await reportedExecutionProvider(container.url, headers),
        headers,
        imageSizeBytes,
        kind: 'container',
        timeToReadyMs,
        url: `${container.url}${options.path ?? '/predict'}`,
      }
    },
  }
}
