import {runCommand} from '@oclif/test'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const irisModel = path.join(repoRoot, 'examples/iris/model.onnx')

describe('mlship init', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-init-cmd-'))
    process.exitCode = undefined
  })
  afterEach(async () => {
    process.exitCode = undefined
    await rm(dir, {force: true, recursive: true})
  })

  it('writes model.yaml without asking with --yes, then validate accepts it', async () => {
    const init = await runCommand(['init', dir, '--yes', '--model', irisModel], {root: repoRoot})
    expect(init.error).toBeUndefined()
    expect(init.stdout).toContain('create    model.yaml')
    const validate = await runCommand(['validate', dir, '--json'], {root: repoRoot})
    expect(JSON.parse(validate.stdout).signature.outputs[0].name).toBe('probabilities')
  })

  it('writes an example row and the labels it is given, so that predict --example names the class', async () => {
    const init = await runCommand(
      ['init', dir, '--yes', '--model', irisModel, '--labels', 'setosa,versicolor,virginica'],
      {root: repoRoot},
    )
    expect(init.error).toBeUndefined()
    const {stdout} = await runCommand(['predict', dir, '--example', '--json'], {root: repoRoot})
    expect(JSON.parse(stdout)).toMatchObject({labels: [expect.stringMatching(/^(setosa|versicolor|virginica)$/)]})
  })

  it('returns what it wrote as JSON', async () => {
    const {stdout} = await runCommand(['init', dir, '--model', irisModel, '--name', 'flowers', '--json'], {
      root: repoRoot,
    })
    const result = JSON.parse(stdout)
    expect(result).toMatchObject({name: 'flowers', version: '1.0.0', dryRun: false})
    expect(result.files.map((f: {path: string}) => f.path)).toContain('model.yaml')
  })

  it('refuses to overwrite without --force (exit 2) and overwrites with it', async () => {
    await runCommand(['init', dir, '--yes', '--model', irisModel], {root: repoRoot})
    const again = await runCommand(['init', dir, '--yes', '--model', irisModel, '--version', '2.0.0'], {root: repoRoot})
    expect(again.error?.oclif?.exit).toBe(2)
    expect(again.error?.message).toContain('already exist')
    const forced = await runCommand(['init', dir, '--yes', '--model', irisModel, '--version', '2.0.0', '--force'], {
      root: repoRoot,
    })
    expect(forced.error).toBeUndefined()
    expect(await readFile(path.join(dir, 'model.yaml'), 'utf8')).toContain('version: 2.0.0')
  })

  it('prints the files and writes nothing with --dry-run', async () => {
    const {stdout} = await runCommand(['init', dir, '--yes', '--model', irisModel, '--dry-run'], {root: repoRoot})
    expect(stdout).toContain('--- model.yaml')
    expect(stdout).toContain('Dry run: nothing was written')
    await expect(readFile(path.join(dir, 'model.yaml'))).rejects.toThrow()
  })

  it('scaffolds the iris example', async () => {
    const {error} = await runCommand(['init', dir, '--example', 'iris'], {root: repoRoot})
    expect(error).toBeUndefined()
    expect(await readFile(path.join(dir, 'model.yaml'), 'utf8')).toContain('name: iris-classifier')
  })

  it('rejects a bad flag value with exit 2', async () => {
    const {error} = await runCommand(['init', dir, '--yes', '--model', irisModel, '--version', 'latest'], {
      root: repoRoot,
    })
    expect(error?.oclif?.exit).toBe(2)
    expect(error?.message).toContain('--version: "latest" is not a valid version')
  })
})
