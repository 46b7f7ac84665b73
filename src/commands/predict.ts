import * as Flags from '@oclif/core/flags'

import {BaseCommand} from '../base-command.js'
import {ExitCode, MlshipError} from '../errors.js'
import {parseFailureBudget, predictBatch, type PredictBatchResult} from '../predict/batch.js'
import {predictOne, type PredictOneResult, readInputArgument} from '../predict/predict-one.js'
import {apiKeyFlags, apiKeyFromFlags} from '../flags/api-key.js'
import {modelDirArg} from '../flags/model-dir.js'

export type PredictResult = PredictOneResult | PredictBatchResult

export default class Predict extends BaseCommand<PredictResult> {
  static override args = {
    dir: modelDirArg(),
  }

  static override description = `One prediction, or a whole file of them, without a server: the model runs in this process on the same inference workers as \`mlship serve\`.

One prediction: -i takes the body of POST /predict ({"features": [[...]]}, {"inputs": {...}}, or just the nested array), or @FILE to read it from a file, or - to read it from stdin; --example takes the examples of model.yaml; --url asks a running server instead.

Batch: --input FILE (JSONL: one row per line, a list for a one-input model or {"<input>": row, ...}; CSV: one row per record, a header is optional) and --output FILE (JSONL, one line per input row in order: {"line", "predictions", "label"} or {"line", "error"}). The input is streamed (files larger than memory work) and run in batches on every inference worker. A bad row is reported with its line number and the rest go on, unless --fail-fast; a run with any failed row exits 2 (every row is still written), unless --max-failures allows that many.

${BaseCommand.exitCodesHelp}`

  static override enableJsonFlag = true

  static override examples = [
    {
      command: `<%= config.bin %> <%= command.id %> examples/iris -i '{"features": [[5.1, 3.5, 1.4, 0.2]]}'`,
      description: 'One prediction.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --example',
      description: 'Predict the example of model.yaml.',
    },
    {
      command: `<%= config.bin %> <%= command.id %> --url http://127.0.0.1:8080 -i '[[5.1, 3.5, 1.4, 0.2]]'`,
      description: 'Ask a running server.',
    },
    {
      command: `printenv IRIS_KEY | <%= config.bin %> <%= command.id %> --url http://10.0.0.5:8080 --api-key-stdin -i '[[5.1, 3.5, 1.4, 0.2]]'`,
      description: 'Ask a server that needs an API key (serving.auth); MLSHIP_API_KEY works too.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris -i @request.json',
      description: 'One prediction, the body read from a file (-i - reads stdin).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --input rows.csv --output predictions.jsonl',
      description: 'A whole file.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> examples/iris --input rows.jsonl --output out.jsonl --max-failures 1%',
      description: 'A whole file, where up to 1% of the rows may fail.',
    },
  ]

  static override flags = {
    ...apiKeyFlags,
    'batch-size': Flags.integer({
      description: 'Rows per inference in batch mode (default: serving.max_batch_size, at most 256).',
      min: 1,
    }),
    example: Flags.boolean({
      description: 'Use the examples of model.yaml as the input.',
      exclusive: ['input-json', 'input'],
    }),
    'fail-fast': Flags.boolean({description: 'Batch mode: stop at the first bad row.', default: false}),
    format: Flags.option({
      description: 'Batch input format (default: from the extension; .csv is CSV).',
      options: ['jsonl', 'csv'] as const,
    })(),
    input: Flags.string({
      description: 'Batch mode: the input file (JSONL or CSV).',
      exclusive: ['input-json', 'url'],
      dependsOn: ['output'],
    }),
    image: Flags.string({
      description:
        "An image file (JPEG, PNG, WebP) for the input that declares preprocess.image; repeat it for more rows. With --text for a model with an image and a text input; inputs sent as tensors take model.yaml's examples.",
      exclusive: ['input-json', 'input', 'example'],
      multiple: true,
    }),
    'input-json': Flags.string({
      char: 'i',
      description: 'One request body as JSON; @FILE reads it from a file, - from stdin.',
      exclusive: ['input'],
    }),
    'max-failures': Flags.string({
      description:
        'Batch mode: rows that may fail with the run still a success (exit 0), a number ("10") or a percentage ("1%"). Default 0: any failed row exits 2.',
      dependsOn: ['input'],
    }),
    output: Flags.string({
      char: 'o',
      description: 'Batch mode: where to write the predictions (JSONL; "-" for stdout).',
      dependsOn: ['input'],
    }),
    text: Flags.string({
      description:
        'A text for the input that declares preprocess.text; repeat it for more rows (with --image: see --image).',
      exclusive: ['input-json', 'input', 'example'],
      multiple: true,
    }),
    url: Flags.string({
      description: 'Ask the server at this URL (its POST /predict) instead of running the model here.',
    }),
    workers: Flags.integer({
      description: 'Inference worker threads in batch mode (default: serving.workers of model.yaml).',
      min: 1,
    }),
  }

  static override summary = 'Predict one input, or a file of them, without a server.'

  async run(): Promise<PredictResult> {
    const {args, flags} = await this.parse(Predict)
    if (flags.input) return this.batch(args.dir, flags.input, flags.output!, flags)
    if (
      flags.input === undefined &&
      flags['input-json'] === undefined &&
      !flags.example &&
      flags.image === undefined &&
      flags.text === undefined
    ) {
      throw new MlshipError(
        'nothing to predict: pass -i JSON, --image FILE, --text TEXT, --example, or --input FILE --output FILE',
        {
          code: 'PREDICT_USAGE',
          exitCode: ExitCode.usage,
          suggestions: [`mlship predict DIR -i '{"features": [[5.1, 3.5, 1.4, 0.2]]}'`],
        },
      )
    }
    if (flags['api-key-stdin'] && flags['input-json'] === '-') {
      throw new MlshipError('--api-key-stdin and -i - both read stdin: pass the body with -i @FILE instead', {
        code: 'PREDICT_USAGE',
        exitCode: ExitCode.usage,
      })
    }
    const result = await predictOne({
      apiKey: flags.url ? await apiKeyFromFlags(flags) : undefined,
      dir: args.dir,
      example: flags.example,
      images: flags.image,
      input: flags['input-json'] === undefined ? undefined : await readInputArgument(flags['input-json']),
      texts: flags.text,
      url: flags.url,
    })
    if (typeof result.label === 'string' && typeof result.score === 'number')
      this.log(`label        ${result.label} (${result.score.toPrecision(3)})`)
    if (result.labels) this.log(`labels       ${result.labels.join(', ')}`)
    this.log(`predictions  ${JSON.stringify(result.predictions)}`)
    if (result.outputs)
      for (const [name, value] of Object.entries(result.outputs)) this.log(`  ${name}: ${JSON.stringify(value)}`)
    this.log(`model ${result.model_version}, ${result.latency_ms} ms`)
    return result
  }

  private async batch(
    dir: string,
    input: string,
    output: string,
    flags: {
      'batch-size'?: number
      'fail-fast': boolean
      format?: 'jsonl' | 'csv'
      'max-failures'?: string
      workers?: number
    },
  ): Promise<PredictBatchResult> {
    const tty = process.stderr.isTTY && !this.jsonEnabled()
    const cliProgress = tty ? (await import('cli-progress')).default : undefined
    const bar = cliProgress
      ? new cliProgress.SingleBar(
          {format: 'predict [{bar}] {percentage}% | {rows} rows | {failed} failed | {speed} rows/s', hideCursor: true},
          cliProgress.Presets.shades_classic,
        )
      : undefined
    const started = performance.now()
    bar?.start(100, 0, {failed: 0, rows: 0, speed: 0})
    let errorsShown = 0
    try {
      const result = await predictBatch({
        batchSize: flags['batch-size'],
        dir,
        failFast: flags['fail-fast'],
        failureBudget: flags['max-failures'] === undefined ? undefined : parseFailureBudget(flags['max-failures']),
        format: flags.format,
        input,
        onProgress: (p) =>
          bar?.update(p.totalBytes > 0 ? Math.min(100, Math.round((p.bytesRead / p.totalBytes) * 100)) : 0, {
            failed: p.failed,
            rows: p.rows,
            speed: Math.round(p.rows / ((performance.now() - started) / 1000)),
          }),
        onRowError: (e) => {
          if (this.jsonEnabled() || errorsShown++ >= 10) return
          if (bar) bar.stop()
          this.logToStderr(`${input}:${e.line}: ${e.message}`)
          if (bar) bar.start(100, 0)
        },
        output,
        workers: flags.workers,
      })
      bar?.update(100)
      bar?.stop()
      if (errorsShown > 10)
        this.logToStderr(`... and ${errorsShown - 10} more bad rows (see the "error" lines in ${output})`)
      const summary = `${result.rows} rows in ${result.seconds} s (${result.rowsPerSecond} rows/s), ${result.succeeded} predicted, ${result.failed} failed; batches of ${result.batchSize}`
      if (output === '-') this.logToStderr(summary)
      else this.log(`${summary}\nwrote ${output}`)
      return result
    } finally {
      bar?.stop()
    }
  }
}
