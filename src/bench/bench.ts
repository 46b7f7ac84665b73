import {errorMessage, ExitCode, isMlshipError, MlshipError} from '../errors.js'
import {loadConfig} from '../config/load.js'
import {loadModelProject} from '../model/load-model.js'
import {LoadGenerator} from './generator.js'
import type {LoadStepOptions, StepProgress} from './load-step.js'
import {type Payloads, payloadsFromFile, payloadsFromSignature} from './payload.js'
import type {Arrival} from './schedule.js'
import {type Slo, type StepResult} from './step-result.js'
import {DEFAULT_SWEEP, type Knee, sweepForKnee, type SweepOptions} from './sweep.js'
import {type BenchDevice, type BenchTarget, probeEndpoint} from './target.js'

/** How to start (and stop) the server under test on a device. --url has one "device": whatever that server runs. */
export interface TargetStarter {
  kind: BenchTarget['kind']
  /** Why no GPU can be used for this target (null: it may be, try it). */
  gpuUnavailableReason(): Promise<string | null>
  start(device: BenchDevice): Promise<BenchTarget>
}

/** The load settings are those of one step (LoadStepOptions), applied to every step the benchmark runs. */
export interface BenchOptions extends Pick<
  LoadStepOptions,
  'arrival' | 'connections' | 'durationMs' | 'lateThresholdMs' | 'timeoutMs' | 'warmupMs'
> {
  starter: TargetStarter
  /** Devices to run on, in order (local and container targets). */
  devices: BenchDevice[]
  /** Model directory, for payloads from its signature (and the target, for local and container). */
  dir?: string
  /** A request body file (JSON, or JSONL with one body per line) instead of payloads from model.yaml. */
  payloadFile?: string
  batchSize?: number
  method: string
  /** Fixed-rate mode: one step at this rate. Without it, a sweep for the knee. */
  rate?: number
  slo: Slo
  sweep: Partial<Omit<SweepOptions, 'slo' | 'stepCostMs'>>
  /** Stops the benchmark: the running step ends at once, and the server mlship started is stopped and removed. */
  signal?: AbortSignal
}

export interface BenchHooks {
  onNote?: (message: string) => void
  onTargetReady?: (target: BenchTarget) => void
  onStepStart?: (rate: number, index: number, device: BenchDevice | null) => void
  onProgress?: (progress: StepProgress) => void
  onStepEnd?: (step: StepResult, index: number, device: BenchDevice | null) => void
}

export interface DeviceRun {
  /** The device mlship started the server on; null for --url. */
  device: BenchDevice | null
  executionProvider: string | null
  timeToReadyMs: number | null
  imageSizeBytes: number | null
  /** The sweep's result; null in fixed-rate mode. */
  knee: Knee | null
  /** Steps by offered rate. */
  steps: StepResult[]
  durationS: number
}

/** The --json shape. Keys are a stable interface: later versions only add keys. */
export interface BenchResult {
  schemaVersion: 1
  mode: 'sweep' | 'fixed-rate'
  /** The model of DIR's model.yaml; null where there is none (a --url target without one). */
  model?: {name: string; version: string} | null
  target: {kind: BenchTarget['kind']; url: string; method: string}
  payload: {source: string; bodies: number; batchSize: number | null}
  slo: Slo
  settings: {
    arrival: Arrival
    durationS: number
    warmupS: number
    timeoutMs: number
    connections: number
    lateThresholdMs: number
    maxDurationS: number | null
  }
  runs: DeviceRun[]
  gpu: {requested: boolean; usable: boolean; reason: string | null}
}

export async function resolvePayloads(
  options: Pick<BenchOptions, 'batchSize' | 'dir' | 'payloadFile'>,
  onNote?: (message: string) => void,
): Promise<Payloads> {
  if (options.payloadFile) return payloadsFromFile(options.payloadFile)
  try {
    const project = await loadModelProject(options.dir ?? '.')
    const cache = project.config.serving.cache
    // Random bodies outnumber the cache's entries four to one, so the cache cannot answer most of them.
    const count = cache.enabled ? Math.min(20_000, 4 * cache.max_entries) : 64
    const payloads = payloadsFromSignature(project.signature, {batchSize: options.batchSize, count})
    if (cache.enabled && payloads.bodies.length <= cache.max_entries) {
      onNote?.(
        `Note: model.yaml turns the response cache on, and the benchmark sends ${payloads.bodies.length} distinct bod${payloads.bodies.length === 1 ? 'y' : 'ies'}: ` +
          'it will mostly measure the cache. Remove the examples from model.yaml or pass --payload FILE.jsonl with varied bodies to measure the model.',
      )
    }
    return payloads
  } catch (error) {
    if (isMlshipError(error) && error.code === 'CONFIG_NOT_FOUND') {
      throw new MlshipError(`No payload: ${error.message}`, {
        cause: error,
        code: 'BENCH_NO_PAYLOAD',
        exitCode: ExitCode.usage,
        suggestions: ['Give a request body with --payload FILE, or run in (or name) a directory with model.yaml.'],
      })
    }
    throw error
  }
}

/** Runs the benchmark: per device, start the target, check it answers, then one fixed-rate step or a knee sweep. */
export async function runBench(options: BenchOptions, hooks: BenchHooks = {}): Promise<BenchResult> {
  const payloads = await resolvePayloads(options, hooks.onNote)
  const gpuRequested = options.devices.includes('gpu')
  let gpu: BenchResult['gpu'] = {reason: null, requested: gpuRequested, usable: false}
  const devices = [...options.devices]
  if (gpuRequested) {
    const reason = await options.starter.gpuUnavailableReason()
    if (reason) {
      gpu = {reason, requested: true, usable: false}
      hooks.onNote?.(`GPU: not usable here: ${reason}. Reporting the CPU alone.`)
      devices.splice(devices.indexOf('gpu'), 1)
      if (!devices.includes('cpu')) devices.unshift('cpu')
    }
  }

  const runs: DeviceRun[] = []
  let url = ''
  const generator = LoadGenerator.start()
  const interrupt = () => void generator.close()
  options.signal?.addEventListener('abort', interrupt, {once: true})
  try {
    for (const device of devices) {
      if (options.signal?.aborted) break
      let target: BenchTarget
      try {
        target = await options.starter.start(device)
      } catch (error) {
        // A GPU that fails to start is reported, not fatal: the CPU run still says something.
        if (device === 'gpu') {
          gpu = {reason: errorMessage(error), requested: true, usable: false}
          hooks.onNote?.(`GPU: the server did not start on the GPU: ${errorMessage(error)}. Reporting the CPU alone.`)
          if (!devices.includes('cpu') && runs.length === 0) devices.push('cpu')
          continue
        }
        throw error
      }
      if (device === 'gpu') gpu = {reason: null, requested: true, usable: true}
      try {
        url = target.url
        const headers = {'content-type': 'application/json', ...target.headers}
        hooks.onTargetReady?.(target)
        await probeEndpoint({body: payloads.bodies[0], headers, method: options.method, url: target.url})
        const runDevice = options.starter.kind === 'url' ? null : device
        const stepOptions = (rate: number): LoadStepOptions => ({
          arrival: options.arrival,
          bodies: payloads.bodies,
          connections: options.connections,
          durationMs: options.durationMs,
          headers,
          lateThresholdMs: options.lateThresholdMs,
          method: options.method,
          progressIntervalMs: 500,
          rate,
          timeoutMs: options.timeoutMs,
          url: target.url,
          warmupMs: options.warmupMs,
        })
        const started = Date.now()
        let knee: Knee | null = null
        let steps: StepResult[]
        if (options.rate === undefined) {
          const sweep = await sweepForKnee(
            (rate, onProgress) => generator.step(stepOptions(rate), options.slo, onProgress),
            {...DEFAULT_SWEEP, ...options.sweep, slo: options.slo, stepCostMs: stepCost(options)},
            {
              onProgress: hooks.onProgress,
              onStepEnd: (step, index) => hooks.onStepEnd?.(step, index, runDevice),
              onStepStart: (rate, index) => hooks.onStepStart?.(rate, index, runDevice),
            },
          )
          knee = sweep.knee
          steps = sweep.steps
        } else {
          hooks.onStepStart?.(options.rate, 0, runDevice)
          const step = await generator.step(stepOptions(options.rate), options.slo, hooks.onProgress)
          hooks.onStepEnd?.(step, 0, runDevice)
          steps = [step]
        }
        runs.push({
          device: runDevice,
          durationS: Math.round((Date.now() - started) / 100) / 10,
          executionProvider: target.executionProvider,
          imageSizeBytes: target.imageSizeBytes,
          knee,
          steps,
          timeToReadyMs: target.timeToReadyMs,
        })
      } finally {
        await target.close()
      }
    }
  } catch (error) {
    if (options.signal?.aborted) throw interrupted(error)
    throw error
  } finally {
    options.signal?.removeEventListener('abort', interrupt)
    await generator.close()
  }
  if (options.signal?.aborted) throw interrupted(undefined)

  return {
    gpu,
    mode: options.rate === undefined ? 'sweep' : 'fixed-rate',
    model: await modelOf(options.dir),
    payload: {batchSize: payloads.batchSize, bodies: payloads.bodies.length, source: payloads.source},
    runs,
    schemaVersion: 1,
    settings: {
      arrival: options.arrival,
      connections: options.connections,
      durationS: options.durationMs / 1000,
      lateThresholdMs: options.lateThresholdMs,
      maxDurationS:
        options.rate === undefined ? (options.sweep.maxDurationMs ?? DEFAULT_SWEEP.maxDurationMs) / 1000 : null,
      timeoutMs: options.timeoutMs,
      warmupS: options.warmupMs / 1000,
    },
    slo: options.slo,
    target: {kind: options.starter.kind, method: options.method, url},
  }
}

/** The model of DIR's model.yaml (the one a local or container target serves), for the reports' titles. */
async function modelOf(dir: string | undefined): Promise<{name: string; version: string} | null> {
  try {
    const {config} = await loadConfig(dir ?? '.')
    return {name: config.name, version: config.version}
  } catch {
    return null
  }
}

function interrupted(cause: unknown): MlshipError {
  return new MlshipError('Interrupted: the benchmark stopped; any server it started has been stopped.', {
    cause,
    code: 'BENCH_INTERRUPTED',
    exitCode: ExitCode.unexpected,
  })
}

/** The longest a step can take: warm-up, window, the drain of its last deadline, and the cool-down. */
export function stepCost(options: Pick<BenchOptions, 'durationMs' | 'sweep' | 'timeoutMs' | 'warmupMs'>): number {
  return (
    options.warmupMs +
    options.durationMs +
    Math.min(options.timeoutMs, 2000) +
    (options.sweep.cooldownMs ?? DEFAULT_SWEEP.cooldownMs)
  )
}

/** The rate a release gate compares: the knee of each run (the lowest one), or the fixed-rate step's achieved rate. */
export function gatedRate(result: BenchResult): number {
  const rates = result.runs.map((run) => {
    if (run.knee) return run.knee.rps ?? 0
    const step = run.steps[0]
    return step && step.verdict === 'ok' ? step.achievedRps : 0
  })
  return rates.length === 0 ? 0 : Math.min(...rates)
}

/** --fail-below: refuses a result whose gated rate (see gatedRate) is under the floor, with exit 7. */
export function assertAboveFloor(result: BenchResult, failBelow: number | undefined): void {
  if (failBelow === undefined) return
  const rate = gatedRate(result)
  if (rate >= failBelow) return
  throw new MlshipError(
    `${result.mode === 'sweep' ? 'The knee' : 'The achieved rate'} is ${rate} req/s, under --fail-below ${failBelow} req/s`,
    {
      code: 'BENCH_BELOW_SLO',
      details: {failBelow, rate, result},
      exitCode: ExitCode.belowSlo,
      suggestions: ['See the steps above for where latency or errors rose; the HTML report (--html) plots them.'],
    },
  )
}
