import {describe, expect, it} from 'vitest'

import {resolveWorkerCount, usableCpus} from './cpus.js'

const files = (entries: Record<string, string>) => (file: string) => entries[file]

describe('usableCpus', () => {
  it('takes the cgroup v2 quota when it is below the CPUs the process is scheduled on', () => {
    expect(
      usableCpus({availableParallelism: () => 16, readFile: files({'/sys/fs/cgroup/cpu.max': '150000 100000\n'})}),
    ).toBe(2)
    expect(
      usableCpus({availableParallelism: () => 2, readFile: files({'/sys/fs/cgroup/cpu.max': '400000 100000'})}),
    ).toBe(2)
  })

  it('ignores an unlimited quota and falls back to cgroup v1 files', () => {
    expect(usableCpus({availableParallelism: () => 8, readFile: files({'/sys/fs/cgroup/cpu.max': 'max 100000'})})).toBe(
      8,
    )
    const v1 = files({
      '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '300000',
    })
    expect(usableCpus({availableParallelism: () => 8, readFile: v1})).toBe(3)
    expect(
      usableCpus({availableParallelism: () => 8, readFile: files({'/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1'})}),
    ).toBe(8)
  })

  it('is at least 1, even for a tiny quota', () => {
    expect(
      usableCpus({availableParallelism: () => 4, readFile: files({'/sys/fs/cgroup/cpu.max': '10000 100000'})}),
    ).toBe(1)
  })
})

describe('resolveWorkerCount', () => {
  it('leaves one CPU to the event loop when "auto", and takes a number as it is', () => {
    expect(resolveWorkerCount('auto', 1)).toBe(1)
    expect(resolveWorkerCount('auto', 2)).toBe(1)
    expect(resolveWorkerCount('auto', 8)).toBe(7)
    expect(resolveWorkerCount(3, 2)).toBe(3)
  })
})

describe('usableCpus under a cgroup namespace shared with the host', () => {
  const k8sPod = '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope'

  it('finds the cgroup v2 quota in the directory /proc/self/cgroup names, not at the mount root', () => {
    // Given a 64-core node whose pod cgroup limits the container to 2 CPUs, seen through the host's cgroup tree
    const readFile = files({
      '/proc/self/cgroup': `0::${k8sPod}\n`,
      [`/sys/fs/cgroup${k8sPod}/cpu.max`]: '200000 100000\n',
    })
    // Then the server sizes itself for 2 CPUs, not 64
    expect(usableCpus({availableParallelism: () => 64, readFile})).toBe(2)
  })

  it('takes the tightest quota along the path (a pod limit above an unlimited container)', () => {
    const readFile = files({
      '/proc/self/cgroup': `0::${k8sPod}\n`,
      [`/sys/fs/cgroup${k8sPod}/cpu.max`]: 'max 100000\n',
      '/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cpu.max': '300000 100000',
    })
    expect(usableCpus({availableParallelism: () => 64, readFile})).toBe(3)
  })

  it('reads cgroup v1 quotas from cpu,cpuacct and from the path of the cpu controller', () => {
    const readFile = files({
      '/proc/self/cgroup': '4:cpu,cpuacct:/docker/abc\n0::/\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000',
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '150000',
    })
    expect(usableCpus({availableParallelism: () => 16, readFile})).toBe(2)
  })
})
