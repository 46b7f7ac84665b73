import {runCommand} from '@oclif/test'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const iris = path.join(repoRoot, 'examples/iris')

describe('mlship validate', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-validate-'))
    process.exitCode = undefined
  })
  afterEach(async () => {
    process.exitCode = undefined
    await rm(dir, {force: true, recursive: true})
  })

  it('prints the resolved configuration and signature as a table', async () => {
    const {error, stdout} = await runCommand(['validate', iris], {root: repoRoot})
    expect(error).toBeUndefined()
    expect(stdout).toContain('iris-classifier@1.0.0')
    expect(stdout).toMatch(/input\s+features\s+float32\s+\[batch, 4\]/)
    expect(stdout).toMatch(/output\s+probabilities\s+float32\s+\[batch, 3\]\s+setosa, versicolor, virginica/)
    expect(stdout).toContain('OK: model.yaml and the model agree.')
  })

  it('prints parseable JSON with --json', async () => {
    const {stdout} = await runCommand(['validate', iris, '--json'], {root: repoRoot})
    const result = JSON.parse(stdout)
    expect(result.config.name).toBe('iris-classifier')
    expect(result.signature.inputs[0]).toMatchObject({dtype: 'float32', name: 'features', shape: ['batch', 4]})
    expect(result.model.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(result.signatureSource).toBe('model.yaml')
  })

  it('exits 2 with the line and key path of a typo', async () => {
    await writeFile(path.join(dir, 'model.yaml'), 'name: iris\nversion: 1.0.0\nmodel:\n  file: m.onnx\nservng: {}\n')
    const {error} = await runCommand(['validate', dir], {root: repoRoot})
    expect(error?.oclif?.exit).toBe(2)
    expect(error?.message).toContain(
      `${path.join(dir, 'model.yaml')}:5:1 [servng]: unknown key "servng" (did you mean "serving"?)`,
    )
  })

  it('reports the error as JSON with --json, exit code 2', async () => {
    await writeFile(path.join(dir, 'model.yaml'), 'name: iris\nversion: one\nmodel:\n  file: m.onnx\n')
    const {stdout} = await runCommand(['validate', dir, '--json'], {root: repoRoot})
    const {error} = JSON.parse(stdout)
    expect(error).toMatchObject({code: 'CONFIG_INVALID', exitCode: 2})
    expect(error.details.problems[0]).toMatchObject({keyPath: 'version', line: 2})
    expect(process.exitCode).toBe(2)
  })

  it('exits 2 naming the file when the model is not ONNX', async () => {
    await writeFile(path.join(dir, 'model.yaml'), 'name: iris\nversion: 1.0.0\nmodel:\n  file: m.onnx\n')
    await writeFile(path.join(dir, 'm.onnx'), 'not a model')
    const {error} = await runCommand(['validate', dir], {root: repoRoot})
    expect(error?.oclif?.exit).toBe(2)
    expect(error?.message).toBe(
      `${path.join(dir, 'm.onnx')}: not an ONNX model, or a truncated one (protobuf parsing failed)`,
    )
  })
})

describe('mlship --help and --version', () => {
  it('lists every command with a one-line summary', async () => {
    const {stdout} = await runCommand(['--help'], {root: repoRoot})
    expect(stdout).toMatch(/init\s+Create model\.yaml/)
    expect(stdout).toMatch(/validate\s+Check model\.yaml/)
  })

  it('documents the exit codes in command help', async () => {
    const {stdout} = await runCommand(['validate', '--help'], {root: repoRoot})
    expect(stdout).toContain('EXIT CODES')
    expect(stdout).toContain('3  Docker engine unavailable')
  })

  it('prints the version', async () => {
    const {stdout} = await runCommand(['--version'], {root: repoRoot})
    expect(stdout).toMatch(/^mlship\/\d+\.\d+\.\d+/)
  })
})
