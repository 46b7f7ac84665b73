import {cp, mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {examplesDir} from '../util/paths.js'
import {planBuild} from './context.js'
import {splitStages, stageDockerfile, stageSteps} from './stages.js'

let work: string
let dockerfile: string
let gpuDockerfile: string

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlship-stages-test-'))
  const dir = path.join(work, 'iris')
  await cp(path.join(examplesDir(), 'iris'), dir, {recursive: true})
  dockerfile = (await planBuild({cacheDir: false, dir})).dockerfile
  gpuDockerfile = (await planBuild({cacheDir: false, dir, gpu: true})).dockerfile
})

afterAll(async () => {
  await rm(work, {force: true, recursive: true})
})

describe('splitStages', () => {
  it('cuts the rendered Dockerfile into runtime, model and config, in order and losing no line', () => {
    const stages = splitStages(dockerfile)!
    expect(stages.map((s) => s.name)).toEqual(['runtime', 'model', 'config'])
    expect(stages.map((s) => s.text).join('')).toBe(`${dockerfile.trimEnd()}\n`.replace(/\n{2,}/g, '\n'))
    expect(stages[0]!.instructions[0]).toMatch(/^FROM /)
    expect(stages[0]!.instructions).toContain('COPY runtime/server/ /app/server/')
    expect(stages[0]!.sources).toBeUndefined()
    expect(stages[1]!.instructions).toEqual(['COPY model/ /app/model/'])
    expect(stages[1]!.sources).toEqual(['model/'])
    expect(stages[2]!.instructions[0]).toBe('COPY config/ /app/model/')
    expect(stages[2]!.instructions.at(-1)).toMatch(/^LABEL org\.opencontainers\.image\.title="iris-classifier"/)
    expect(stages[2]!.sources).toEqual(['config/'])
  })

  it('keeps the GPU variant (two FROM lines, COPY --from) inside the runtime stage', () => {
    const stages = splitStages(gpuDockerfile)!
    expect(stages[0]!.instructions.filter((i) => i.startsWith('FROM '))).toHaveLength(2)
    expect(stages[0]!.instructions.some((i) => i.startsWith('COPY --from=node'))).toBe(true)
    expect(stages[1]!.instructions).toEqual(['COPY model/ /app/model/'])
  })

  it('builds a Dockerfile it cannot follow in one go: no model/config COPY, or a later FROM, ADD or COPY --from', () => {
    expect(splitStages('FROM node:20\nCOPY . /app/\n')).toBeUndefined()
    expect(splitStages(dockerfile.replace('COPY config/ /app/model/', 'ADD config/ /app/model/'))).toBeUndefined()
    expect(
      splitStages(dockerfile.replace('COPY config/ /app/model/\n', 'COPY config/ /app/model/\nFROM scratch\n')),
    ).toBeUndefined()
    expect(
      splitStages(dockerfile.replace('COPY model/ /app/model/\n', 'COPY model/ /app/model/\nCOPY --from=x /a /b\n')),
    ).toBeUndefined()
    const swapped = dockerfile
      .replace('COPY model/ /app/model/', 'PLACEHOLDER')
      .replace('COPY config/ /app/model/', 'COPY model/ /app/model/')
      .replace('PLACEHOLDER', 'COPY config/ /app/model/')
    expect(splitStages(swapped)).toBeUndefined()
  })

  it('joins continued lines the way the engine names its steps', () => {
    const stages = splitStages('FROM a\nENV A=1 \\\n  # a comment\n  B=2\nCOPY model/ /m/\nCOPY config/ /m/\n')!
    expect(stages[0]!.instructions).toEqual(['FROM a', 'ENV A=1 B=2'])
  })
})

describe('stageDockerfile and stageSteps', () => {
  it('puts the stage before in FROM and the stage label last, and counts those steps', () => {
    const [, model] = splitStages(dockerfile)!
    const text = stageDockerfile(model!, 'sha256:abc', 'model:sha256:def')
    expect(text.split('\n').filter((line) => !line.startsWith('#'))).toEqual([
      'FROM sha256:abc',
      'COPY model/ /app/model/',
      'LABEL dev.mlship.build-stage="model:sha256:def"',
      '',
    ])
    expect(stageSteps(model!, true, true)).toHaveLength(3)
    expect(stageSteps(model!, false, false)).toEqual(['COPY model/ /app/model/'])
  })
})
