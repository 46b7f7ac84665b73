import {describe, expect, it} from 'vitest'

import type {TargetStarter} from '../bench.js'
import {deviceStates} from './session.js'

const starter = (kind: TargetStarter['kind'], gpuReason: string | null): TargetStarter => ({
  gpuUnavailableReason: () => Promise.resolve(gpuReason),
  kind,
  start: () => Promise.reject(new Error('not started in this test')),
})

describe('the device switch of bench --ui', () => {
  it('greys the GPU out with the reason bench --devices gives, when none is usable', async () => {
    const notes: string[] = []
    const states = await deviceStates(
      {devices: ['cpu', 'gpu'], starter: starter('container', 'the Docker engine has no NVIDIA runtime')},
      {onNote: (note) => notes.push(note)},
    )
    expect(states.cpu.available).toBe(true)
    expect(states.gpu).toMatchObject({
      available: false,
      reason: 'not usable here: the Docker engine has no NVIDIA runtime',
    })
    expect(notes).toEqual([
      'GPU: not usable here: the Docker engine has no NVIDIA runtime. The page offers the CPU alone.',
    ])
  })

  it('starts a GPU server only when asked for, and says how to ask', async () => {
    const states = await deviceStates({devices: ['cpu'], starter: starter('local', null)}, {})
    expect(states.gpu).toMatchObject({available: false})
    expect(states.gpu.reason).toMatch(/--devices cpu,gpu/)
    expect((await deviceStates({devices: ['cpu', 'gpu'], starter: starter('local', null)}, {})).gpu.available).toBe(
      true,
    )
  })

  it('has no GPU to switch to with --url, and keeps the CPU when only a GPU was asked for but none is usable', async () => {
    const url = await deviceStates({devices: ['cpu'], starter: starter('url', null)}, {})
    expect(url.gpu.reason).toMatch(/--url/)
    const gpuOnly = await deviceStates({devices: ['gpu'], starter: starter('local', 'no CUDA')}, {})
    expect(gpuOnly.cpu.available).toBe(true)
  })
})
