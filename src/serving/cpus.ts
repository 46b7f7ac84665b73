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
 * started with `--cpus 1.5` on a 16-core host gets 2, not 16; a pod with a CPU limit of 2 on a 64-core node gets 2.
 */
export function usableCpus(sources: CpuQuotaSources = {}): number {
  const read = sources.readFile ?? readQuiet
  const parallelism = (sources.availableParallelism ?? os.availableParallelism)()
  const quota = cgroupQuota(read)
  return Math.max(1, quota === undefined ? parallelism : Math.min(parallelism, Math.ceil(quota)))
}

const V2_ROOT = '/sys/fs/cgroup'
const V1_ROOTS = ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct']

/**
 * The tightest CPU quota of this process's cgroup and its ancestors. With a private cgroup namespace (Docker and
 * containerd on cgroup v2) the mount root is the container's own cgroup; with the host's namespace (older runtimes)
 * the mount shows the whole tree and the quota sits in the directory /proc/self/cgroup names, or above it.
 */
function cgroupQuota(read: (file: string) => string | undefined): number | undefined {
  const memberships = parseProcCgroup(read('/proc/self/cgroup'))
  const v2 = minQuota(candidateDirs(V2_ROOT, memberships.v2), (dir) => v2Quota(read(`${dir}/cpu.max`)))
  if (v2 !== undefined) return v2
  return minQuota(
    V1_ROOTS.flatMap((root) => candidateDirs(root, memberships.cpuV1)),
    (dir) => v1Quota(read(`${dir}/cpu.cfs_quota_us`), read(`${dir}/cpu.cfs_period_us`)),
  )
}

function parseProcCgroup(text: string | undefined): {v2?: string; cpuV1?: string} {
  const result: {v2?: string; cpuV1?: string} = {}
  for (const line of (text ?? '').split('\n')) {
    const [id, controllers, cgroupPath] = line.split(':', 3) as [string, string | undefined, string | undefined]
    if (cgroupPath === undefined) continue
    if (id === '0' && controllers === '') result.v2 = cgroupPath
    else if (controllers?.split(',').includes('cpu')) result.cpuV1 = cgroupPath
  }
  return result
}

/** The mount root, then the process's own cgroup directory and each of its parents (when that path is a real one). */
function candidateDirs(root: string, cgroupPath: string | undefined): string[] {
  const dirs = [root]
  const parts = (cgroupPath ?? '/').split('/').filter(Boolean)
  if (parts.includes('..')) return dirs
  for (let depth = parts.length; depth > 0; depth--) dirs.push(`${root}/${parts.slice(0, depth).join('/')}`)
  return dirs
}

function minQuota(dirs: string[], quotaOf: (dir: string) => number | undefined): number | undefined {
  let min: number | undefined
  for (const dir of new Set(dirs)) {
    const quota = quotaOf(dir)
    if (quota !== undefined && (min === undefined || quota < min)) min = quota
  }
  return min
}

function v2Quota(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? '').trim().split(/\s+/)
  if (!quota || quota === 'max' || !(Number(period) > 0) || !(Number(quota) > 0)) return undefined
  return Number(quota) / Number(period)
}

function v1Quota(quotaText: string | undefined, periodText: string | undefined): number | undefined {
  const quota = Number(quotaText?.trim() ?? Number.NaN)
  const period = Number(periodText?.trim() ?? Number.NaN)
  return quota > 0 && period > 0 ? quota / period : undefined
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
