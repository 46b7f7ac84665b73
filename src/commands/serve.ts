import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode, MlshipError} from '../errors.js'
import {serveLocal, type ServeLocalResult} from '../serving/serve-local.js'

export default class Serve extends BaseCommand<ServeLocalResult> {
  static override args = {
    dir: Args.string({default: '.', description: 'Directory with model.yaml (or the path of a model.yaml).'}),
  }

  static override description = `Serves the model of DIR/model.yaml over HTTP: the seed contract (POST /predict, GET /health), the Open Inference Protocol (KServe v2) under /v2, GET /ready, GET /openapi.json and an API page at /docs. With --local the server runs in this process (no Docker needed); Ctrl-C stops it gracefully (requests in flight finish).

Inference runs in worker threads, one onnxruntime session each, sized from the CPUs this process may use (serving.workers in model.yaml). Logs are JSON lines on stdout; LOG_LEVEL sets the level.

${BaseCommand.exitCodesHelp}`

  static override enableJsonFlag = true

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> examples/iris --local', description: 'Serve the iris example on port 8080.'},
    {command: '<%= config.bin %> <%= command.id %> --local --port 9000 --host 127.0.0.1', description: 'This machine only, on port 9000.'},
    {
      command: `curl -s -XPOST localhost:8080/predict -H 'content-type: application/json' -d '{"features": [[5.1, 3.5, 1.4, 0.2]]}'`,
      description: 'Ask it for a prediction.',
    },
  ]

  static override flags = {
    device: Flags.option({description: 'Execution provider (default: MLSHIP_DEVICE, else build.gpu of model.yaml).', options: ['cpu', 'cuda'] as const})(),
    host: Flags.string({description: 'Interface to listen on (default: serving.host of model.yaml, 0.0.0.0).'}),
    local: Flags.boolean({description: 'Run the server in this process instead of a container.', default: false}),
    port: Flags.integer({char: 'p', description: 'Port to listen on (default: serving.port of model.yaml, 8080).', max: 65_535, min: 0}),
    workers: Flags.integer({description: 'Inference worker threads (default: serving.workers of model.yaml, "auto").', min: 1}),
  }

  static override summary = 'Serve a model over HTTP (--local: in this process).'

  async run(): Promise<ServeLocalResult> {
    const {args, flags} = await this.parse(Serve)
    if (!flags.local) throw containerModeUnavailable()
    return serveLocal({
      device: flags.device,
      dir: args.dir,
      host: flags.host,
      onListening: (info) => {
        this.log(`Serving ${info.model}@${info.version} at ${info.url}  (${info.workers} inference worker${info.workers === 1 ? '' : 's'}, ${info.executionProvider})`)
        this.log(`Routes:\n${info.routes.map((r) => `  ${r}`).join('\n')}`)
        this.log(`Try:  curl -s ${info.url}/health\nAPI page: ${info.url}/docs\nPress Ctrl-C to stop.`)
      },
      onStopping: (signal) => this.logToStderr(`\n${signal}: stopping (requests in flight finish)...`),
      port: flags.port,
      workers: flags.workers,
    })
  }
}

/** Container mode arrives with `mlship build` (issue 5); until then `serve` needs --local. Replace this branch then. */
function containerModeUnavailable(): MlshipError {
  return new MlshipError('container mode is not available yet: `mlship serve` needs --local to run the server in this process', {
    code: 'SERVE_NEEDS_LOCAL',
    exitCode: ExitCode.usage,
    suggestions: ['Run `mlship serve DIR --local`.'],
  })
}
