import {execa} from 'execa'
import {copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {parse as parseYaml} from 'yaml'

import {loadConfig} from '../config/load.js'
import {readModelSignature} from '../model/signature.js'
import {defaultNameFor, initProject, type Prompter} from './init.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const irisModel = path.join(repoRoot, 'examples/iris/model.onnx')

/** Answers prompts from a script, and records what was asked. */
function scriptedPrompter(answers: Record<string, string | boolean>): Prompter & {asked: string[]} {
  const asked: string[] = []
  const answer = (message: string) => {
    asked.push(message)
    const key = Object.keys(answers).find((k) => message.includes(k))
    if (key === undefined) throw new Error(`unexpected prompt: ${message}`)
    return answers[key]!
  }
  return {
    asked,
    async confirm({message}) {
      return answer(message) as boolean
    },
    async input({message, validate, default: fallback}) {
      const value = answer(message) as string
      const chosen = value === '' ? (fallback ?? '') : value
      const valid = validate?.(chosen) ?? true
      if (valid !== true) throw new Error(`prompt validation failed: ${valid}`)
      return chosen
    },
  }
}

describe('initProject', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-init-'))
  })
  afterEach(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  it('non-interactively writes model.yaml whose signature matches the model, plus a workflow', async () => {
    const result = await initProject({dir, mlshipVersion: '0.1.0', model: irisModel, name: 'flowers', version: '2.0.0'})

    expect(result.files.map((f) => `${f.action} ${f.path}`)).toEqual([
      'create model.yaml',
      'copy model.onnx',
      'create .github/workflows/mlship.yml',
    ])
    const text = await readFile(path.join(dir, 'model.yaml'), 'utf8')
    // The schema this mlship ships, as a path editors resolve offline from model.yaml's folder.
    const schema = /^# yaml-language-server: \$schema=(.+)$/.exec(text.split('\n')[0]!)?.[1]
    expect(path.resolve(dir, schema!)).toBe(path.join(repoRoot, 'schema/model.schema.json'))
    const loaded = await loadConfig(dir)
    expect(loaded.config).toMatchObject({model: {file: 'model.onnx'}, name: 'flowers', version: '2.0.0'})
    // The model's signature, with a row of zeros as the example of its input; no labels unless given.
    const signature = await readModelSignature(irisModel)
    expect(loaded.config.signature).toEqual({
      ...signature,
      inputs: [{...signature.inputs[0], example: [[0, 0, 0, 0]]}],
    })
    expect((await stat(path.join(dir, 'model.onnx'))).size).toBe((await stat(irisModel)).size)
    const workflow = await readFile(path.join(dir, '.github/workflows/mlship.yml'), 'utf8')
    expect(workflow).toContain("tags: ['v*.*.*']")
    expect(workflow).toContain('${{ secrets.REGISTRY_PASSWORD || secrets.GITHUB_TOKEN }}')
  })

  it('refers to a model already inside the directory without copying it', async () => {
    await mkdir(path.join(dir, 'models'))
    await copyFile(irisModel, path.join(dir, 'models/iris.onnx'))
    const result = await initProject({dir, mlshipVersion: '0.1.0', model: path.join(dir, 'models/iris.onnx')})
    expect(result.files.map((f) => f.path)).not.toContain('models/iris.onnx')
    expect((await loadConfig(dir)).config.model.file).toBe('models/iris.onnx')
  })

  it('defaults the name to the directory name and the version to 1.0.0', async () => {
    const named = path.join(dir, 'My Fraud_Model')
    const result = await initProject({dir: named, mlshipVersion: '0.1.0', model: irisModel})
    expect(result).toMatchObject({name: 'my-fraud_model', version: '1.0.0'})
    expect(defaultNameFor('/tmp/---')).toBe('model')
  })

  it('asks for the model, name, version and description on a TTY, and offers the detected signature', async () => {
    await copyFile(irisModel, path.join(dir, 'iris.onnx'))
    const prompter = scriptedPrompter({
      Description: 'lab model',
      'Model file': path.join(dir, 'iris.onnx'),
      'Model name': 'lab-iris',
      Registry: '',
      Version: '0.3.0',
      'Write this signature': false,
    })
    const result = await initProject({dir, mlshipVersion: '0.1.0', prompter})

    expect(prompter.asked).toHaveLength(6)
    expect(prompter.asked[4]).toContain('input   features  float32  [batch, 4]')
    const loaded = await loadConfig(dir)
    expect(loaded.config).toMatchObject({description: 'lab model', name: 'lab-iris', version: '0.3.0'})
    // Declined: the server reads the signature from the model instead.
    expect(loaded.config.signature).toBeUndefined()
    expect(result.signature.inputs[0]?.name).toBe('features')
  })

  it('rejects an invalid name or version given as a flag, with the validator the prompt uses', async () => {
    await expect(initProject({dir, mlshipVersion: '0.1.0', model: irisModel, name: 'Not OK'})).rejects.toThrow(
      '--name: "Not OK" is not a valid name',
    )
    await expect(initProject({dir, mlshipVersion: '0.1.0', model: irisModel, version: 'v1'})).rejects.toThrow(
      '--version: "v1" is not a valid version',
    )
  })

  it('never overwrites without force, and writes nothing at all when one file exists', async () => {
    const workflow = path.join(dir, '.github/workflows/mlship.yml')
    await mkdir(path.dirname(workflow), {recursive: true})
    await writeFile(workflow, 'mine\n')
    await expect(initProject({dir, mlshipVersion: '0.1.0', model: irisModel})).rejects.toMatchObject({
      code: 'INIT_WOULD_OVERWRITE',
      exitCode: 2,
    })
    await expect(stat(path.join(dir, 'model.yaml'))).rejects.toThrow()
    expect(await readFile(workflow, 'utf8')).toBe('mine\n')

    const forced = await initProject({dir, force: true, mlshipVersion: '0.1.0', model: irisModel})
    expect(forced.files.find((f) => f.path === '.github/workflows/mlship.yml')?.action).toBe('overwrite')
    expect(await readFile(workflow, 'utf8')).toContain('mlship build')
  })

  it('shows what it would write on a dry run, and writes nothing', async () => {
    const result = await initProject({dir, dryRun: true, mlshipVersion: '0.1.0', model: irisModel})
    expect(result.dryRun).toBe(true)
    expect(result.contents['model.yaml']).toContain('name: ')
    await expect(stat(path.join(dir, 'model.yaml'))).rejects.toThrow()
  })

  it('says what to do when there is no model to describe', async () => {
    await expect(initProject({dir, mlshipVersion: '0.1.0'})).rejects.toMatchObject({
      code: 'INIT_NO_MODEL',
      suggestions: [expect.stringContaining('--model')],
    })
  })

  it('fails with the model error for a file that is not ONNX', async () => {
    await writeFile(path.join(dir, 'bad.onnx'), 'nope')
    await expect(initProject({dir, mlshipVersion: '0.1.0', model: path.join(dir, 'bad.onnx')})).rejects.toMatchObject({
      code: 'MODEL_LOAD_FAILED',
      exitCode: 2,
    })
  })

  it('scaffolds the iris teaching example', async () => {
    const result = await initProject({dir, example: 'iris', mlshipVersion: '0.1.0'})
    expect(result.files.map((f) => f.path).sort()).toEqual(
      ['.github/workflows/mlship.yml', 'README.md', 'model.onnx', 'model.yaml', 'train.py'].sort(),
    )
    const loaded = await loadConfig(dir)
    expect(loaded.config.name).toBe('iris-classifier')
    const schema = /\$schema=(.+)$/.exec((await readFile(loaded.file, 'utf8')).split('\n')[0]!)?.[1]
    expect(path.resolve(dir, schema!)).toBe(path.join(repoRoot, 'schema/model.schema.json'))
    expect(loaded.config.signature?.outputs[0]?.labels).toEqual(['setosa', 'versicolor', 'virginica'])
  })

  it('offers labels for an output of class scores on a TTY, and writes them into the signature', async () => {
    await copyFile(irisModel, path.join(dir, 'iris.onnx'))
    const answers = {
      Description: '',
      'Model file': path.join(dir, 'iris.onnx'),
      'Model name': 'lab-iris',
      Registry: 'ghcr.io/acme/lab-iris',
      Version: '1.0.0',
      'Write this signature': true,
      'looks like scores of 3 classes': 'setosa, versicolor, virginica',
    }
    const prompter = scriptedPrompter(answers)
    const result = await initProject({dir, mlshipVersion: '0.1.0', prompter})

    expect(prompter.asked.find((q) => q.includes('classes'))).toBe(
      'Output "probabilities" [batch, 3] looks like scores of 3 classes: their labels, comma-separated (empty: none)',
    )
    const {config} = await loadConfig(dir)
    expect(config.signature?.outputs[0]).toMatchObject({labels: ['setosa', 'versicolor', 'virginica']})
    expect(config.registry).toEqual({host: 'ghcr.io', repository: 'acme/lab-iris'})
    expect(result.registry).toBe('ghcr.io/acme/lab-iris')

    // A wrong number of labels is refused by the prompt's validator, as by the flag.
    await expect(
      initProject({
        dir,
        force: true,
        mlshipVersion: '0.1.0',
        prompter: scriptedPrompter({...answers, 'looks like scores of 3 classes': 'a, b'}),
      }),
    ).rejects.toThrow('prompt validation failed: expected 3 labels, one per class, got 2')
    await expect(
      initProject({dir, force: true, labels: ['a', 'a', 'b'], mlshipVersion: '0.1.0', model: irisModel}),
    ).rejects.toThrow('--labels: two labels are the same')
  })

  it('takes labels and the registry as flags, and refuses ones that do not fit', async () => {
    const result = await initProject({
      dir,
      labels: ['setosa', 'versicolor', 'virginica'],
      mlshipVersion: '0.1.0',
      model: irisModel,
      registry: '127.0.0.1:5000/team/flowers',
    })
    expect(result.signature.outputs[0]?.labels).toEqual(['setosa', 'versicolor', 'virginica'])
    const {config} = await loadConfig(dir)
    expect(config.registry).toEqual({host: '127.0.0.1:5000', repository: 'team/flowers'})
    await expect(
      initProject({dir, force: true, mlshipVersion: '0.1.0', model: irisModel, registry: 'Not A Registry'}),
    ).rejects.toThrow(/--registry: "Not A Registry" is not host\/repository/)
  })

  it('points the registry at ghcr.io when the directory is a clone of a GitHub repository', async () => {
    await execa('git', ['-C', dir, 'init', '-q'])
    await execa('git', ['-C', dir, 'remote', 'add', 'origin', 'git@github.com:Acme-Labs/models.git'])
    await initProject({dir, mlshipVersion: '0.1.0', model: irisModel, name: 'flowers'})
    expect((await loadConfig(dir)).config.registry).toEqual({host: 'ghcr.io', repository: 'acme-labs/flowers'})
  })

  it('writes a workflow that installs mlship from a variable or where it came from, and pushes to a registry', async () => {
    await initProject({dir, mlshipPackage: 'github:acme/mlship#v0.1.0', mlshipVersion: '0.1.0', model: irisModel})
    const text = await readFile(path.join(dir, '.github/workflows/mlship.yml'), 'utf8')
    const workflow = parseYaml(text) as {
      jobs: {release: {steps: Array<{name?: string; run?: string; env?: Record<string, string>}>}}
    }
    const steps = workflow.jobs.release.steps
    const install = steps.find((step) => step.name === 'Install mlship')!
    expect(install.env).toMatchObject({
      MLSHIP_PACKAGE: '${{ vars.MLSHIP_PACKAGE }}',
      MLSHIP_PACKAGE_DEFAULT: 'github:acme/mlship#v0.1.0',
      ONNXRUNTIME_NODE_INSTALL: 'skip',
    })
    expect(install.run).toContain('npm install --global "$package"')
    const push = steps.find((step) => step.name === 'Push')!
    expect(push.env).toMatchObject({MLSHIP_REGISTRY: '${{ vars.MLSHIP_REGISTRY }}'})
    expect(push.run).toContain('mlship push ${registry:+--registry "$registry"}')
    expect(text).not.toContain('unpkg.com')
    // The smoke test predicts the example of model.yaml: init wrote one.
    expect(steps.find((step) => step.name === 'Smoke test the image')?.run).toContain('--example')

    await expect(
      initProject({dir, force: true, mlshipPackage: "x'; rm -rf /", mlshipVersion: '0.1.0', model: irisModel}),
    ).rejects.toMatchObject({code: 'INVALID_FLAG'})
  })

  it('offers image preprocessing for an input that looks like an image, and writes what validate accepts', async () => {
    const digits = path.join(repoRoot, 'examples/digits-image/model.onnx')
    await copyFile(digits, path.join(dir, 'digits.onnx'))
    await copyFile(path.join(repoRoot, 'examples/digits-image/three.png'), path.join(dir, 'three.png'))
    const answers = {
      Description: '',
      'Model file': path.join(dir, 'digits.onnx'),
      'Model name': 'digits',
      Registry: '',
      Version: '1.0.0',
      'Write this signature': true,
      'looks like an image': true,
      'looks like scores of 10 classes': '',
    }
    const prompter = scriptedPrompter(answers)
    await initProject({dir, mlshipVersion: '0.1.0', prompter})
    expect(prompter.asked.find((q) => q.includes('looks like an image'))).toBe(
      'Input "image" [batch, 1, 16, 16] looks like an image: let clients send a picture (JPEG, PNG, WebP), resized and normalised by the server?',
    )
    const {config} = await loadConfig(dir)
    // One channel: grayscale, and no ImageNet question (its mean and std are per colour channel).
    expect(config.signature?.inputs[0]).toMatchObject({
      preprocess: {image: {color: 'grayscale', interpolation: 'bilinear', resize: 'shorter_side', shorter_side: 18}},
    })
    expect(config.signature?.inputs[0]?.example).toBeUndefined()

    // Declined: the tensor input, with its example, as before.
    await initProject({
      dir,
      force: true,
      mlshipVersion: '0.1.0',
      prompter: scriptedPrompter({...answers, 'looks like an image': false}),
    })
    expect((await loadConfig(dir)).config.signature?.inputs[0]?.preprocess).toBeUndefined()
  })

  it('takes --image-preprocess, finds NHWC images too, and refuses the flag for a model without images', async () => {
    const signature = {
      inputs: [{dtype: 'float32' as const, name: 'pixels', shape: ['batch', 224, 224, 3]}],
      outputs: [{dtype: 'float32' as const, name: 'logits', shape: ['batch', 5]}],
    }
    const {imageLikeInput} = await import('./signature-extras.js')
    expect(imageLikeInput(signature)).toMatchObject({channels: 3, height: 224, index: 0, width: 224})
    expect(imageLikeInput({...signature, inputs: [{...signature.inputs[0]!, shape: ['batch', 224, 224, 4]}]})).toBe(
      undefined,
    )
    await expect(initProject({dir, imagePreprocess: true, mlshipVersion: '0.1.0', model: irisModel})).rejects.toThrow(
      '--image-preprocess: no input looks like an image',
    )
    await copyFile(path.join(repoRoot, 'examples/digits-image/three.png'), path.join(dir, 'three.png'))
    await initProject({
      dir,
      imagePreprocess: true,
      mlshipVersion: '0.1.0',
      model: path.join(repoRoot, 'examples/digits-image/model.onnx'),
    })
    expect((await loadConfig(dir)).config.signature?.inputs[0]?.preprocess?.image?.color).toBe('grayscale')
  })

  it('smoke-tests a picture model in the workflow with a sample image of DIR, and refuses init when there is none', async () => {
    const smokeStep = async () => {
      const text = await readFile(path.join(dir, '.github/workflows/mlship.yml'), 'utf8')
      const workflow = parseYaml(text) as {jobs: {release: {steps: Array<{name?: string; run?: string}>}}}
      return workflow.jobs.release.steps.find((step) => step.name === 'Smoke test the image')!.run!
    }
    const digits = {
      imagePreprocess: true,
      mlshipVersion: '0.1.0',
      model: path.join(repoRoot, 'examples/digits-image/model.onnx'),
    }
    // No picture in DIR: init says so and writes nothing (a workflow that can only fail in CI is worse).
    await expect(initProject({dir, ...digits})).rejects.toMatchObject({
      code: 'INIT_NO_SAMPLE_IMAGE',
      message: expect.stringContaining('no sample image (.jpg, .jpeg, .png, .webp)'),
    })
    await expect(stat(path.join(dir, 'model.yaml'))).rejects.toThrow()

    await copyFile(path.join(repoRoot, 'examples/digits-image/three.png'), path.join(dir, 'three.png'))
    await copyFile(path.join(repoRoot, 'examples/digits-image/seven.jpg'), path.join(dir, 'seven.jpg'))
    await initProject({dir, ...digits})
    const image = await smokeStep()
    expect(image).not.toContain('--example')
    // The first in name order, relative to DIR (the job's working directory), and there.
    expect(image).toContain("mlship predict --url http://127.0.0.1:8080 --image 'seven.jpg' --json")
    await expect(stat(path.join(dir, 'seven.jpg'))).resolves.toBeTruthy()

    // A tensor model keeps the examples init wrote into model.yaml.
    await initProject({dir, force: true, mlshipVersion: '0.1.0', model: irisModel})
    expect(await smokeStep()).toContain('mlship predict --url http://127.0.0.1:8080 --example --json')

    // A text model sends a sentence.
    const tokenizer = path.join(repoRoot, 'src/preprocess/fixtures/tokenizer.json')
    const textModel = path.join(repoRoot, 'src/serving/fixtures/preprocess/text/model.onnx')
    await initProject({dir, force: true, mlshipVersion: '0.1.0', model: textModel, tokenizer})
    expect(await smokeStep()).toContain("--text 'mlship smoke test' --json")

    // A model with a picture and a text sends both (and predict fills its tensor input from model.yaml's example).
    const both = path.join(repoRoot, 'src/serving/fixtures/preprocess/image-text/model.onnx')
    await initProject({dir, force: true, imagePreprocess: true, mlshipVersion: '0.1.0', model: both, tokenizer})
    expect(await smokeStep()).toContain(
      "mlship predict --url http://127.0.0.1:8080 --image 'seven.jpg' --text 'mlship smoke test' --json",
    )
    const {config} = await loadConfig(dir)
    expect(config.signature?.inputs.map((input) => Object.keys(input.preprocess ?? {}))).toEqual([
      ['image'],
      ['text'],
      [],
      [],
    ])
  })

  it('declares text preprocessing for token ids with --tokenizer (copied in) and leaves the mask to the server', async () => {
    const textModel = path.join(repoRoot, 'src/serving/fixtures/preprocess/text/model.onnx')
    const tokenizer = path.join(repoRoot, 'src/preprocess/fixtures/tokenizer.json')
    const result = await initProject({dir, mlshipVersion: '0.1.0', model: textModel, tokenizer})
    expect(result.files.map((f) => f.path)).toContain('tokenizer.json')
    const {config} = await loadConfig(dir)
    expect(config.signature?.inputs.map((input) => [input.name, input.preprocess?.text?.tokenizer])).toEqual([
      ['input_ids', 'tokenizer.json'],
      ['attention_mask', undefined],
    ])
    expect(config.signature?.inputs.every((input) => input.example === undefined)).toBe(true)
    await expect(initProject({dir, force: true, mlshipVersion: '0.1.0', model: irisModel, tokenizer})).rejects.toThrow(
      '--tokenizer: no input looks like token ids',
    )

    // On a terminal it is asked for; empty keeps the ids as a tensor input.
    const answers = {
      Description: '',
      'Model file': textModel,
      'Model name': 'texts',
      Registry: '',
      Version: '1.0.0',
      'Write this signature': true,
      'looks like scores of 12 classes': '',
      'looks like token ids': '',
    }
    const prompter = scriptedPrompter(answers)
    await initProject({dir, force: true, mlshipVersion: '0.1.0', prompter})
    expect(prompter.asked.find((q) => q.includes('token ids'))).toBe(
      'Input "input_ids" [batch, 12] looks like token ids: the tokenizer.json that makes them from text (empty: clients send ids)',
    )
    expect((await loadConfig(dir)).config.signature?.inputs[0]?.preprocess).toBeUndefined()
  })

  it('refuses an unknown example and lists the known ones', async () => {
    await expect(initProject({dir, example: 'nope', mlshipVersion: '0.1.0'})).rejects.toMatchObject({
      suggestions: ['Known examples: iris, digits-mlp.'],
    })
  })
})
