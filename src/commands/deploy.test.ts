import {runCommand} from '@oclif/test'
import {cp, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {parseAllDocuments} from 'yaml'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const image = `127.0.0.1:5000/team/iris@sha256:${'e'.repeat(64)}`

describe('mlship deploy (no cluster, no registry)', () => {
  let dir: string
  let model: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-deploy-cmd-'))
    model = path.join(dir, 'iris')
    await cp(path.join(repoRoot, 'examples/iris'), model, {recursive: true})
    process.exitCode = undefined
  })
  afterEach(async () => {
    process.exitCode = undefined
    await rm(dir, {force: true, recursive: true})
  })

  it('--print writes a YAML stream of the objects and no file', async () => {
    const {stdout} = await runCommand(['deploy', model, '--image', image, '--print'], {root: repoRoot})
    const documents = parseAllDocuments(stdout).map((d) => d.toJS() as {kind: string})
    expect(documents.map((d) => d.kind)).toEqual([
      'Deployment',
      'Service',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'NetworkPolicy',
    ])
    expect(stdout).toContain(image)
    await expect(readdir(path.join(model, 'deploy'))).rejects.toThrow(/ENOENT/)
  })

  it('--json is a Kubernetes List with the summary, and the files are written to --output', async () => {
    const output = path.join(dir, 'manifests')
    const {stdout} = await runCommand(
      ['deploy', model, '--image', image, '--format', 'kserve', '--output', output, '--namespace', 'ml', '--json'],
      {root: repoRoot},
    )
    const result = JSON.parse(stdout)
    expect(result).toMatchObject({apiVersion: 'v1', kind: 'List'})
    expect(result.items.map((i: {kind: string}) => i.kind)).toEqual(['InferenceService'])
    expect(result.mlship).toMatchObject({format: 'kserve', name: 'iris-classifier', namespace: 'ml', workers: 1})
    expect(await readdir(output)).toEqual(['iris-classifier.inferenceservice.yaml'])
    expect(await readFile(path.join(output, 'iris-classifier.inferenceservice.yaml'), 'utf8')).toContain(
      'namespace: ml',
    )
  })

  it('refuses a canary percent outside 1-99 and --promote with no canary in place (exit 2)', async () => {
    const canary = await runCommand(['deploy', model, '--image', image, '--canary', '150'], {root: repoRoot})
    expect(canary.error?.oclif?.exit).toBe(2)
    expect(canary.error?.message).toMatch(/99/)

    const {stdout} = await runCommand(['deploy', model, '--promote', '--json'], {root: repoRoot})
    expect(JSON.parse(stdout).error).toMatchObject({code: 'NO_CANARY', exitCode: 2})
    expect(process.exitCode).toBe(2)
  })

  it('without --image and without a registry in model.yaml, says how to name the image (exit 2)', async () => {
    expect(await readFile(path.join(model, 'model.yaml'), 'utf8')).not.toMatch(/^registry:/m)
    const {stdout} = await runCommand(['deploy', model, '--json'], {root: repoRoot})
    const {error} = JSON.parse(stdout)
    expect(error).toMatchObject({code: 'REGISTRY_NOT_SET', exitCode: 2})
    expect(error.suggestions.join(' ')).toContain('--image')
  })

  it('reports an unknown deploy: key with its line and a did-you-mean (exit 2)', async () => {
    const file = path.join(model, 'model.yaml')
    await writeFile(file, `${await readFile(file, 'utf8')}deploy:\n  replica: {min: 1}\n`)
    const {error} = await runCommand(['deploy', model, '--image', image, '--print'], {root: repoRoot})
    expect(error?.oclif?.exit).toBe(2)
    expect(error?.message).toContain('[deploy.replica]: unknown key "replica" (did you mean "replicas"?)')
  })
})
