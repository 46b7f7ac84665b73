/**
 * Probe timings from the measured model load time. A pod's CPU limit is usually below the machine the load was
 * measured on, the workers load side by side on that limit, and a cold node is slower than a warm laptop: the
 * startup budget is generous (several times the measurement plus the Node.js start), and a pod that is slow to load
 * is still never killed by its liveness probe, which only starts once the startup probe has passed.
 */

export interface HttpProbeTiming {
  path: string
  periodSeconds: number
  timeoutSeconds: number
  failureThreshold: number
  initialDelaySeconds?: number
}

export interface ProbeTimings {
  /** The load time the timings were derived from (seconds, one worker, this machine). */
  measuredLoadSeconds: number
  /** Longest the startup probe waits for /ready (seconds). */
  startupBudgetSeconds: number
  startup: HttpProbeTiming
  readiness: HttpProbeTiming
  liveness: HttpProbeTiming
}

export interface ProbeTimingOptions {
  /** Inference workers per pod: they load in parallel on `cpus`. */
  workers: number
  /** The CPUs a pod may use (its CPU limit, rounded up). */
  cpus: number
  /** A GPU image also initialises CUDA and cuDNN before its first inference. */
  gpu: boolean
}

/** Node.js start, module loading and listening, before the model load begins. */
const BOOT_SECONDS = 5
/** How much slower a pod may load than the measurement here. */
const SLOWDOWN = 4
const MIN_STARTUP_SECONDS = 30
const CUDA_INIT_SECONDS = 60
const STARTUP_PERIOD_SECONDS = 2

export function probeTimings(measuredLoadSeconds: number, options: ProbeTimingOptions): ProbeTimings {
  const contention = Math.max(1, options.workers / Math.max(1, options.cpus))
  const budget = Math.max(
    MIN_STARTUP_SECONDS,
    Math.ceil(BOOT_SECONDS + SLOWDOWN * measuredLoadSeconds * contention + (options.gpu ? CUDA_INIT_SECONDS : 0)),
  )
  return {
    liveness: {failureThreshold: 3, path: '/health', periodSeconds: 10, timeoutSeconds: 5},
    measuredLoadSeconds,
    readiness: {failureThreshold: 2, path: '/ready', periodSeconds: 5, timeoutSeconds: 2},
    startup: {
      failureThreshold: Math.ceil(budget / STARTUP_PERIOD_SECONDS),
      path: '/ready',
      periodSeconds: STARTUP_PERIOD_SECONDS,
      timeoutSeconds: 2,
    },
    startupBudgetSeconds: budget,
  }
}
