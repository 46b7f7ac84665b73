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
