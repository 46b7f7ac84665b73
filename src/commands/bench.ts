import {writeFile} from 'node:fs/promises'

import type {Interfaces} from '@oclif/core'
import * as Flags from '@oclif/core/flags'

import {BaseCommand} from '../base-command.js'
import {assertAboveFloor, type BenchOptions, type BenchResult, runBench} from '../bench/bench.js'
import {renderHtmlReport} from '../bench/report-html.js'
import {benchProgressLog} from '../bench/progress-log.js'
import {renderReport} from '../bench/report-text.js'
import {DEFAULT_SLO} from '../bench/step-result.js'
import {DEFAULT_SWEEP} from '../bench/sweep.js'
import {chooseTarget, parseBenchDevices} from '../bench/targets.js'
import {ExitCode, MlshipError} from '../errors.js'
import {onInterrupt} from '../util/interrupt.js'
import {apiKeyFlags, apiKeyFromFlags} from '../flags/api-key.js'
import {modelDirArg} from '../flags/model-dir.js'
import {renderWebBenchHtml, renderWebBenchText} from '../web/bench-report.js'
import {runWebBench, type WebBenchResult} from '../web/bench-web.js'

export default class Bench extends BaseCommand<BenchResult | WebBenchResult> {
  static override args = {
    dir: modelDirArg('Directory with model.yaml: the model to serve, and where payloads come from.'),
  }

  static override description = `Benchmarks the model of DIR in the container \`mlship build\` makes (built if needed, the default), in this process (--local), or any running server (--url).

Open-loop load test: requests go out on a schedule whether or not earlier ones have answered, and each latency is measured from its scheduled send time (coordinated omission corrected), into an HDR histogram; the warm-up is discarded.

Without --rate it sweeps: the offered rate doubles until a step degrades, then a bisection refines the knee, the highest rate with p99 under the SLO, errors under 0.1% and at least 95% of the offered rate answered. With --rate it runs one step.

--target web measures edge against cloud: the model's web bundle in headless Chromium (Debian's chromium, or MLSHIP_CHROMIUM), loaded from cold --loads times (page-load-to-first-prediction), then predicting on a schedule at --rate (default 20/s) for --duration; the model's server runs in this process and is measured at the same rate with the same body, and both are printed side by side.

When the generator itself cannot keep its schedule (requests sent late), the result says so instead of blaming the server: on a machine with few cores the generator and a local server share the CPUs.

With --ui it serves a live page on 127.0.0.1 instead: a rate slider that drives the same open-loop generator at once, a CPU/GPU switch (both servers kept warm), charts of the last minutes updated every second (p50/p95/p99 against the SLO, offered against achieved, errors and 503s, the server's own /metrics gauges), the moment the load tips into degradation marked and named, "find the knee" run on the chart, and the session saved as the --html report. Ctrl-C stops the load, the servers and the page; the session's steps are then reported as usual.

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris',
      description: 'Build the image if needed, run it, and find its knee.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --local',
      description: 'The same, with the server in this process (no Docker).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --devices cpu,gpu --html report.html',
      description: 'CPU against GPU, side by side (a missing GPU is said plainly).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --local --ui',
      description: 'Explore live in the browser: drag the rate up and watch where the server tips over.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/iris --ui --devices cpu,gpu --port 8790 --no-open',
      description: 'The same against the container, CPU and GPU servers both warm, on a fixed port.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --url http://127.0.0.1:8080/predict',
      description: 'Find the knee of a running server (payload from ./model.yaml).',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --url http://127.0.0.1:5000/predict --payload body.json --rate 500 --duration 10',
      description: 'One 10 s step at 500 req/s against any server, with a request body of your own.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --url http://127.0.0.1:8080 --json --fail-below 1000',
      description: 'Gate a release in CI: exit 7 when the knee is under 1000 req/s.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> examples/digits-mlp --target web --html edge.html',
      description: 'The model in the browser against its server: per-prediction p50/p99 and cold start, side by side.',
    },
    {
      command: 'printenv IRIS_KEY | <%= config.bin %> <%= command.id %> --url http://10.0.0.5:8080 --api-key-stdin',
      description:
        'A server with API keys on (serving.auth); MLSHIP_API_KEY works too. --local and the container get a key of their own.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --url http://127.0.0.1:8080 --html report.html',
      description: 'Also write a self-contained HTML report with plots.',
    },
  ]

  static override flags = {
    ...apiKeyFlags,
    arrival: Flags.option({
      default: 'constant',
      description: 'Arrival schedule: constant gaps, or Poisson (exponential gaps, same mean rate).',
      options: ['constant', 'poisson'] as const,
    })(),
    'base-image': Flags.string({
      description: 'Base image when the container target builds the image (default: build.base_image of model.yaml).',
    }),
    'batch-size': Flags.integer({
      description: 'Rows per request in generated payloads (the example rows are repeated to fill it).',
      min: 1,
    }),
    connections: Flags.integer({
      default: 64,
      description:
        'Keep-alive connections to the server; requests beyond them queue in the client, and that wait counts.',
      min: 1,
    }),
    devices: Flags.string({
      default: 'cpu',
      description: 'Devices to run the same benchmark on, side by side: cpu, gpu or cpu,gpu (targets mlship starts).',
    }),
    duration: Flags.integer({default: 5, description: 'Seconds measured per step (after the warm-up).', min: 1}),
    'fail-below': Flags.integer({
      description:
        'Exit 7 when the knee (or, with --rate, the achieved rate of a healthy step) is under this many req/s.',
      min: 0,
    }),
    image: Flags.string({description: 'Container target: run this image instead of building one (CPU runs).'}),
    loads: Flags.integer({
      default: 3,
      description: '--target web: cold page loads measured for page-load-to-first-prediction (the median is reported).',
      min: 1,
    }),
    local: Flags.boolean({
      default: false,
      description: 'Serve the model in this process (no Docker) and benchmark that.',
      exclusive: ['url'],
    }),
    html: Flags.string({
      description: 'Write a self-contained HTML report (inline SVG plots, no external assets) to this file.',
    }),
    'max-duration': Flags.integer({
      default: DEFAULT_SWEEP.maxDurationMs / 1000,
      description: 'Seconds the whole sweep may take; steps that would overrun it are not started.',
      min: 1,
    }),
    'max-rate': Flags.integer({
      default: DEFAULT_SWEEP.maxRate,
      description: 'Highest rate the sweep offers (req/s).',
      min: 1,
    }),
    method: Flags.string({default: 'POST', description: 'HTTP method.', options: ['POST', 'GET', 'PUT']}),
    open: Flags.boolean({
      allowNo: true,
      default: true,
      description: '--ui: open the page in the browser when there is a desktop (--no-open: print its URL only).',
    }),
    path: Flags.string({description: 'Path of the endpoint (default: the --url path, else /predict).'}),
    port: Flags.integer({
      dependsOn: ['ui'],
      description: '--ui: port of the page on 127.0.0.1 (default: a free one).',
      max: 65_535,
      min: 0,
    }),
    payload: Flags.string({
      description:
        'Request body file (JSON; .jsonl: one body per line, sent in turn) instead of payloads from model.yaml.',
    }),
    rate: Flags.integer({
      description: 'Run one step at this offered rate (req/s) instead of sweeping (--ui: the rate the page starts at).',
      min: 1,
    }),
    slo: Flags.integer({default: DEFAULT_SLO.p99Ms, description: 'p99 latency objective in ms.', min: 1}),
    'start-rate': Flags.integer({
      default: DEFAULT_SWEEP.startRate,
      description: 'First rate of the sweep (req/s).',
      min: 1,
    }),
    target: Flags.option({
      default: 'server',
      description:
        'server: load-test a model server; web: the model in headless Chromium against its server (edge vs cloud).',
      options: ['server', 'web'] as const,
    })(),
    timeout: Flags.integer({
      default: 5000,
      description: 'Milliseconds after its scheduled time at which a request is aborted and counted as a timeout.',
      min: 1,
    }),
    ui: Flags.boolean({
      description:
        'Serve a live page on 127.0.0.1 (rate slider, CPU/GPU switch, live charts, find the knee) until Ctrl-C.',
      exclusive: ['fail-below'],
    }),
    url: Flags.string({description: 'Benchmark a running server (mlship or not) at this URL.', exclusive: ['local']}),
    workers: Flags.integer({
      description: '--local: inference worker threads (default: serving.workers of model.yaml).',
      min: 1,
    }),
    webgpu: Flags.boolean({
      description: '--target web: bundle the WebGPU runtime (tried first; WebAssembly is its fallback, said loudly).',
    }),
    warmup: Flags.integer({
      default: 1,
      description: 'Seconds of load before each step is measured (not recorded).',
      min: 0,
    }),
  }

  static override summary = 'Load-test a model server and find where it degrades.'

  async run(): Promise<BenchResult | WebBenchResult> {
    const {args, flags} = await this.parse(Bench)
    if (flags.target === 'web') {
      const web = await this.benchWeb(args.dir, flags)
      this.log(renderWebBenchText(web))
      await this.writeHtml(flags.html, () => renderWebBenchHtml(web))
      return web
    }
    const devices = parseBenchDevices(flags.devices)
    const starter = chooseTarget({
      apiKey: flags.url ? await apiKeyFromFlags(flags) : undefined,
      baseImage: flags['base-image'],
      devices,
      dir: args.dir,
      image: flags.image,
      inProcess: flags.local,
      method: flags.method,
      onNote: (message) => this.logToStderr(message),
      path: flags.path,
      url: flags.url,
      workers: flags.workers,
    })
    const options: BenchOptions = {
      arrival: flags.arrival,
      batchSize: flags['batch-size'],
      connections: flags.connections,
      devices,
      dir: args.dir,
      durationMs: flags.duration * 1000,
      lateThresholdMs: 10,
      method: flags.method,
      payloadFile: flags.payload,
      rate: flags.rate,
      slo: {...DEFAULT_SLO, p99Ms: flags.slo},
      starter,
      sweep: {
        maxDurationMs: flags['max-duration'] * 1000,
        maxRate: flags['max-rate'],
        startRate: flags['start-rate'],
      },
      timeoutMs: flags.timeout,
      warmupMs: flags.warmup * 1000,
    }
    const result = flags.ui ? await this.runUi(options, flags) : await this.runSteps(options)
    this.log(renderReport(result, {color: process.stdout.isTTY}))
    await this.writeHtml(flags.html, () => renderHtmlReport(result))
    assertAboveFloor(result, flags['fail-below'])
    return result
  }

  /** Steps at fixed rates or the sweep, a live line on a terminal; Ctrl-C ends the running step (exit 130). */
  private async runSteps(options: BenchOptions): Promise<BenchResult> {
    const progress = benchProgressLog({
      log: (line) => this.logToStderr(line),
      slo: options.slo,
      terminal: process.stderr,
    })
    // The running step ends and what the benchmark started is stopped (a container is removed).
    const interrupt = onInterrupt({
      onFirst: () =>
        progress.note('\nStopping: the running step ends and the server is stopped (Ctrl-C again to exit at once)...'),
    })
    try {
      return await runBench({...options, signal: interrupt.signal}, progress.hooks)
    } catch (error) {
      if (interrupt.signal.aborted) {
        progress.note('Interrupted.')
        this.exit(130)
      }
      throw error
    } finally {
      progress.clear()
      interrupt.dispose()
    }
  }

  /** --ui: the live page until Ctrl-C, then the session reported as a batch run is. */
  private async runUi(
    options: BenchOptions,
    flags: Pick<BenchFlags, 'max-rate' | 'open' | 'port' | 'rate' | 'start-rate'>,
  ): Promise<BenchResult> {
    // Loaded only for --ui: the page's server, its bundler and the browser opener stay out of every other start-up.
    const [{runBenchUi}, {benchUiLog}] = await Promise.all([
      import('../bench/ui/bench-ui.js'),
      import('../bench/ui/ui-log.js'),
    ])
    const interrupt = onInterrupt({
      onFirst: () =>
        this.logToStderr('\nStopping: the load, the servers and the page (Ctrl-C again to exit at once)...'),
    })
    try {
      const uiOptions = {maxRate: flags['max-rate'], port: flags.port ?? 0, rate: flags.rate ?? flags['start-rate']}
      return await runBenchUi(
        {...options, ...uiOptions, signal: interrupt.signal},
        benchUiLog({log: (line) => this.logToStderr(line), open: flags.open}),
      )
    } finally {
      interrupt.dispose()
    }
  }

  private async benchWeb(
    dir: string,
    flags: Pick<
      BenchFlags,
      'duration' | 'image' | 'loads' | 'local' | 'rate' | 'ui' | 'url' | 'warmup' | 'webgpu' | 'workers'
    >,
  ): Promise<WebBenchResult> {
    if (flags.url || flags.local || flags.image || flags.ui) {
      throw new MlshipError('--target web starts its own page and server: leave out --url, --local, --image and --ui', {
        code: 'BENCH_USAGE',
        exitCode: ExitCode.usage,
      })
    }
    const interrupt = onInterrupt()
    try {
      return await runWebBench({
        backend: flags.webgpu ? 'webgpu' : 'wasm',
        dir,
        durationMs: flags.duration * 1000,
        loads: flags.loads,
        onNote: (message) => this.logToStderr(message),
        rate: flags.rate ?? 20,
        signal: interrupt.signal,
        warmupMs: flags.warmup * 1000,
        workers: flags.workers,
      })
    } finally {
      interrupt.dispose()
    }
  }

  private async writeHtml(file: string | undefined, html: () => string): Promise<void> {
    if (!file) return
    await writeFile(file, html())
    this.logToStderr(`HTML report: ${file}`)
  }
}

type BenchFlags = Interfaces.InferredFlags<typeof Bench.flags>
