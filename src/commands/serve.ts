import * as Flags from '@oclif/core/flags'
import {ux} from '@oclif/core/ux'

import {BaseCommand} from '../base-command.js'
import {buildProgressRenderer} from '../image/progress.js'
import {PLATFORMS} from '../config/schema.js'
import {serveInContainer, type ServeInContainerResult} from '../container/serve-container.js'
import {connectEngine} from '../docker/engine.js'
import {
  containerBuildLine,
  containerReadyEvent,
  containerReadyText,
  containerStoppedLine,
  parseGpus,
} from '../container/serve-report.js'
import {flagUsageError} from '../errors.js'
import {serveInProcess, type ServeInProcessResult} from '../serving/serve-in-process.js'
import {serveWeb, type ServeWebResult} from '../web/serve-web.js'
import {webListeningLine} from '../web/report-text.js'
import {inProcessListeningText} from '../serving/serve-report.js'
import {modelDirArg} from '../flags/model-dir.js'

export type ServeResult = ServeInProcessResult | ServeInContainerResult | ServeWebResult

/** A line of `serve --json`: the server is ready, has stopped, or runs detached. */
export type ServeEvent =
  {event: 'ready'; url: string; [key: string]: unknown} | ({event: 'stopped' | 'detached'} & ServeResult)

export default class Serve extends BaseCommand<ServeResult> {
  static override args = {
    dir: modelDirArg(),
  }

  static override description = `Serves the model of DIR/model.yaml over HTTP: the seed contract (POST /predict, GET /health), the Open Inference Protocol (KServe v2) under /v2, GET /ready, GET /openapi.json and an API page at /docs. Without --local it builds the image if needed (as mlship build does; an unchanged model re-uses its image), runs it on the Docker engine with the port published on 127.0.0.1, waits until it is ready, prints the URL and follows its logs; --detach leaves it running. With --local the server runs in this process (no Docker needed). Either way Ctrl-C stops it gracefully (requests in flight finish).

--target web serves the model in the browser instead: DIR is a folder \`mlship build --target web\` wrote (or a model directory, whose bundle is built first), served on 127.0.0.1 with the headers that make the page cross-origin isolated (COOP and COEP), so onnxruntime-web may use several threads.

Inference runs in worker threads, one onnxruntime session each, sized from the CPUs this process may use (serving.workers in model.yaml). Logs are JSON lines on stdout (on stderr with --json); LOG_LEVEL sets the level.

With --json, stdout carries JSON lines, one event each: {"event": "ready", "url", ...} once the server answers, then {"event": "stopped", ...} when it has stopped ({"event": "detached", ...} with --detach), or {"error": ...}.

${BaseCommand.exitCodesHelp}`

  static override enableJsonFlag = true

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --local',
      description: 'Serve the iris example on port 8080.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --local --port 9000 --host 127.0.0.1',
      description: 'This machine only, on port 9000.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --detach --port 8081',
      description: 'Build and run the image in the background.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --image iris-classifier:1.0.0 --gpus all',
      description: 'Run a built image with the GPUs passed through.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> iris-web --target web',
      description: 'Serve a web bundle (mlship build --target web) and open the URL it prints in a browser.',
    },
    {
      command: `curl -s -XPOST localhost:8080/predict -H 'content-type: application/json' -d '{"features": [[5.1, 3.5, 1.4, 0.2]]}'`,
      description: 'Ask it for a prediction.',
    },
  ]

  static override flags = {
    device: Flags.option({
      description: 'Execution provider (default: MLSHIP_DEVICE, else build.gpu of model.yaml).',
      options: ['cpu', 'cuda'] as const,
    })(),
    host: Flags.string({
      description:
        'Interface to listen on (default: serving.host of model.yaml, else 127.0.0.1: this machine only); --host 0.0.0.0 shares the server with the network.',
    }),
    local: Flags.boolean({description: 'Run the server in this process instead of a container.', default: false}),
    target: Flags.option({
      default: 'server',
      description: 'server: the model server (in a container, or --local); web: the browser bundle, as static files.',
      options: ['server', 'web'] as const,
    })(),
    isolation: Flags.boolean({
      allowNo: true,
      default: true,
      description: '--target web: send the cross-origin isolation headers (--no-isolation: the page runs one thread).',
    }),
    // Container mode (issue 5): the image `mlship build` makes, run on the Docker engine.
    'base-image': Flags.string({description: 'Container mode: base image for the build (as in `mlship build`).'}),
    detach: Flags.boolean({char: 'd', description: 'Container mode: leave the container running and print its id.'}),
    gpus: Flags.string({
      description: 'Container mode: pass GPUs through, "all" or a count (needs the NVIDIA Container Toolkit).',
    }),
    image: Flags.string({description: 'Container mode: serve this image instead of building one.'}),
    name: Flags.string({description: 'Container mode: container name.'}),
    'no-cache': Flags.boolean({description: 'Container mode: rebuild every step of the image.'}),
    platform: Flags.string({description: 'Container mode: platform of the image to build.', options: [...PLATFORMS]}),
    timeout: Flags.integer({
      description: 'Container mode: seconds the container may take to become ready.',
      default: 60,
      min: 1,
    }),
    port: Flags.integer({
      char: 'p',
      description: 'Port to listen on (default: serving.port of model.yaml, 8080).',
      max: 65_535,
      min: 0,
    }),
    workers: Flags.integer({
      description: 'Inference worker threads (default: serving.workers of model.yaml, "auto").',
      min: 1,
    }),
  }

  static override summary = 'Serve a model over HTTP (--local: in this process).'

  /** JSON lines: a serve runs for hours, and a script wants the "ready" event (its URL) when it happens. */
  override logJson(json: unknown): void {
    ux.stdout(JSON.stringify(json))
  }

  protected override toSuccessJson(result: ServeResult): ServeEvent {
    return {event: 'detached' in result && result.detached ? 'detached' : 'stopped', ...result}
  }

  async run(): Promise<ServeResult> {
    const {args, flags} = await this.parse(Serve)
    if (flags.target === 'web') return this.serveWebBundle(args.dir, flags)
    if (!flags.isolation) throw flagUsageError('--no-isolation is for --target web')
    if (!flags.local) return this.serveContainer(args.dir, flags)
    return serveInProcess({
      device: flags.device,
      dir: args.dir,
      host: flags.host,
      // Under --json stdout carries the events: the server's own log lines go to stderr.
      logTo: this.jsonEnabled() ? 'stderr' : 'stdout',
      onListening: (info) => {
        if (this.jsonEnabled()) this.logJson({event: 'ready', ...info} satisfies ServeEvent)
        this.log(inProcessListeningText(info))
        if (info.hint) this.logToStderr(`Note: ${info.hint}.`)
      },
      onStopping: (signal) => this.logToStderr(`\n${signal}: stopping (requests in flight finish)...`),
      port: flags.port,
      workers: flags.workers,
    })
  }

  private async serveWebBundle(
    dir: string,
    flags: {host?: string; port?: number; isolation: boolean; local: boolean; image?: string; detach: boolean},
  ): Promise<ServeWebResult> {
    if (flags.local || flags.image || flags.detach)
      throw flagUsageError('--local, --image and --detach are for --target server')
    return serveWeb({
      dir,
      host: flags.host,
      isolate: flags.isolation,
      onListening: (info) => {
        if (this.jsonEnabled()) this.logJson({event: 'ready', ...info} satisfies ServeEvent)
        this.log(webListeningLine(info))
        if (info.built) this.logToStderr(`Built it first into ${info.bundleDir} (removed when this stops).`)
        this.log('Open the URL in a browser; the model runs there. Press Ctrl-C to stop.')
      },
      onStopping: (signal) => this.logToStderr(`\n${signal}: stopping.`),
      port: flags.port,
    })
  }

  private async serveContainer(dir: string, flags: ContainerFlags): Promise<ServeInContainerResult> {
    const gpus = parseGpus(flags.gpus)
    const engine = await connectEngine({withoutDocker: `mlship serve ${dir} --local`})
    const progress = buildProgressRenderer(process.stderr)
    const result = await serveInContainer({
      build: {
        baseImage: flags['base-image'],
        noCache: flags['no-cache'],
        platform: flags.platform as (typeof PLATFORMS)[number] | undefined,
      },
      detach: flags.detach,
      dir,
      engine,
      gpus,
      host: flags.host,
      image: flags.image,
      logs: this.jsonEnabled() ? {stderr: process.stderr, stdout: process.stderr} : undefined,
      name: flags.name,
      onBuildProgress: progress.onProgress,
      onReady: (served) => {
        progress.finish()
        if (this.jsonEnabled()) this.logJson(containerReadyEvent(served) satisfies ServeEvent)
        const built = containerBuildLine(served)
        if (built) this.logToStderr(built)
        this.log(containerReadyText(served, flags.detach))
      },
      onStopping: (signal) => this.logToStderr(`\n${signal}: stopping the container (requests in flight finish)...`),
      port: flags.port,
      timeoutMs: flags.timeout * 1000,
    })
    if (!result.detached) this.logToStderr(containerStoppedLine(result))
    return result
  }
}

interface ContainerFlags {
  'base-image'?: string
  detach: boolean
  gpus?: string
  host?: string
  image?: string
  name?: string
  'no-cache': boolean
  platform?: string
  port?: number
  timeout: number
}
