import {mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {modelConfigSchema} from '../config/schema.js'
import type {ResolvedModel} from '../model/load-model.js'
import {imageFiles, secretPatternOf} from './image-files.js'
import {writeExternalDataModel} from './test-support/onnx-model.js'

let work: string

beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlship-image-files-'))
})

afterEach(async () => {
  await rm(work, {force: true, recursive: true})
})

/** A project as loadModelProject() resolves it, without opening the model (onnxruntime checks links itself). */
function project(dir: string, file = 'model.onnx'): ResolvedModel {
  const config = modelConfigSchema.parse({model: {file}, name: 'm', version: '1.0.0'})
  return {
    config,
    dir,
    file: path.join(dir, 'model.yaml'),
    modelPath: path.join(dir, file),
    signature: {inputs: [], outputs: []},
    signatureSource: 'model',
  }
}

describe('imageFiles', () => {
  it('refuses external data that is a symbolic link out of the model directory, whatever loads the model', async () => {
    const dir = path.join(work, 'model')
    await mkdir(dir)
    await writeFile(path.join(dir, 'model.yaml'), 'name: m\n')
    await writeFile(path.join(work, 'shadow'), 'secret!!')
    await writeExternalDataModel({dir, location: 'weights.bin', writeData: false})
    await symlink(path.join(work, 'shadow'), path.join(dir, 'weights.bin'))
    await expect(imageFiles(project(dir))).rejects.toMatchObject({
      code: 'SYMLINK_OUTSIDE_MODEL_DIR',
      exitCode: 2,
      message: expect.stringContaining('external data "weights.bin" of the model is a symbolic link to'),
    })
  })

  it('refuses external data the model locates above its directory', async () => {
    const dir = path.join(work, 'model')
    await mkdir(dir)
    await writeFile(path.join(dir, 'model.yaml'), 'name: m\n')
    await writeExternalDataModel({dir, location: '../w.bin'})
    await expect(imageFiles(project(dir))).rejects.toMatchObject({code: 'MODEL_OUTSIDE_CONTEXT', exitCode: 2})
  })
})

describe('secretPatternOf', () => {
  it.each([
    ['credentials.json', '**/credentials.*'],
    ['ID_RSA', '**/id_rsa*'],
    ['keys/.npmrc', '**/.npmrc'],
    ['.aws/config', '**/.aws'],
    ['sub/.ssh/known_hosts', '**/.ssh'],
    ['tls/server.pem', '**/*.pem'],
    ['kubeconfig', '**/kubeconfig'],
    ['infra/terraform.tfstate.backup', '**/terraform.tfstate*'],
    ['service-account-prod.json', '**/service-account*.json'],
    ['gcp-credentials.json', '**/*credentials*.json'],
  ])('%s is a secret (%s)', (file, pattern) => {
    expect(secretPatternOf(file)).toBe(pattern)
  })

  it.each(['model.onnx', 'model.onnx.data', 'weights/layer.bin', 'model.yaml', 'keyboard.onnx', 'environment.onnx'])(
    '%s is not',
    (file) => {
      expect(secretPatternOf(file)).toBeUndefined()
    },
  )
})
