import {readFileSync} from 'node:fs'
import os from 'node:os'

export interface CpuQuotaSources {
  /** Reads a file, or returns undefined if it cannot. */
  readFile?: (file: string) => string | undefined
  availableParallelism?: () => number
}

/**
 * The CPUs this process may really use: the smaller of the CPUs it is scheduled on (`os.availableParallelism()`) and
 * its cgroup CPU quota (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), rounded up. A container
 * started with `--cpus 1.5` on a 16-core host gets 2, not 16.
 */
export function usableCpus(sources: CpuQuotaSources = {}): number {
  const read = sources.readFile ?? readQuiet
  const parallelism = (sources.availableParallelism ?? os.availableParallelism)()
  const quota = cgroupQuota(read)
  return Math.max(1, quota === undefined ? parallelism : Math.min(parallelism, Math.ceil(quota)))
}

function cgroupQuota(read: (file: string) => string | undefined): number | undefined {
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim()
  if (v2) {
    const [quota, period] = v2.split(/\s+/)
    if (quota && quota !== 'max' && Number(period) > 0) return Number(quota) / Number(period)
    return undefined
  }
  const quota = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')?.trim() ?? Number.NaN)
  const period = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us')?.trim() ?? Number.NaN)
  if (quota > 0 && period > 0) return quota / period
  return undefined
}

function readQuiet(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * Inference workers for `serving.workers`. "auto": one per usable CPU but one, which is left to the event loop that
 * parses requests and writes responses (with 2 CPUs: 1 worker); at least 1.
 */
export function resolveWorkerCount(setting: 'auto' | number, cpus: number): number {
  if (setting !== 'auto') return setting
  return Math.max(1, cpus - 1)
}
