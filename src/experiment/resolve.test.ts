import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {ConfigError, type MlshipError} from '../errors.js'
import {loadModelProject} from '../model/load-model.js'
import {mlpModel, randomLayer, seededRandom} from '../optimize/test-support/models.js'
import {onnx} from '../optimize/onnx-model.js'
import {resolveExperiment} from './resolve.js'
import {type ExperimentTree, writeExperimentTree, writeIrisDir} from './test-support/experiment-dirs.js'

const README_EXAMPLE = `  name: iris-v2-test
  variants:
    - {name: control, model: ., weight: 90}
    - {name: candidate, model: ../iris-v2, weight: 10}
    - {name: quantised, model: ../iris-int8, shadow: true}
`

let tree: ExperimentTree | undefined
afterEach(async () => {
  await tree?.dispose()
  tree = undefined
})

async function failure(promise: Promise<unknown>): Promise<MlshipError> {
  try {
    await promise
  } catch (error) {
    return error as MlshipError
  }
  throw new Error('expected a failure')
}

/** An MLP with `features` inputs named like iris's, written with its own model.yaml. */
async function writeMlpDir(dir: string, features: number, outputs: number, outputYaml: string): Promise<void> {
  await mkdir(dir, {recursive: true})
  const random = seededRandom(3)
  const model = mlpModel({
    features,
    input: 'features',
    layers: [randomLayer(random, features, outputs, {relu: false})],
    output: 'probabilities',
    softmax: outputs > 1,
  })
  await writeFile(path.join(dir, 'model.onnx'), onnx.ModelProto.encode(model).finish())
  await writeFile(
    path.join(dir, 'model.yaml'),
    `name: mlp\nversion: 3.0.0\nmodel: {file: model.onnx}\nsignature:\n  inputs:\n    - {name: features, dtype: float32, shape: [batch, ${features}]}\n  outputs:\n${outputYaml}`,
  )
}

describe('resolveExperiment', () => {
  it('loads every variant, this model included, and names the control', async () => {
    tree = await writeExperimentTree(README_EXAMPLE, {'iris-int8': '1.0.1', 'iris-v2': '2.0.0'})
    const resolved = (await resolveExperiment(await loadModelProject(tree.primary)))!
    expect(resolved.control).toBe('control')
    expect(resolved.variants.map((v) => [v.name, v.primary, v.weight, v.shadow, v.project.config.version])).toEqual([
      ['control', true, 90, false, '1.0.0'],
      ['candidate', false, 10, false, '2.0.0'],
      ['quantised', false, 0, true, '1.0.1'],
    ])
  })

  it('is undefined without an experiment', async () => {
    tree = await writeExperimentTree(README_EXAMPLE, {})
    const plain = await writeIrisDir(path.join(tree.root, 'plain'))
    expect(await resolveExperiment(await loadModelProject(plain))).toBeUndefined()
  })

  it('reads the variants from MLSHIP_VARIANTS_DIR, one folder per name, as the image lays them out', async () => {
    tree = await writeExperimentTree(README_EXAMPLE, {
      'image-variants/candidate': '2.5.0',
      'image-variants/quantised': '1.5.0',
    })
    const resolved = (await resolveExperiment(await loadModelProject(tree.primary), {
      variantsDir: path.join(tree.root, 'image-variants'),
    }))!
    expect(resolved.variants.map((v) => v.project.config.version)).toEqual(['1.0.0', '2.5.0', '1.5.0'])
  })

  it('refuses a variant directory without model.yaml at the line of its model key (exit 2)', async () => {
    tree = await writeExperimentTree(README_EXAMPLE, {'iris-v2': '2.0.0'})
    const error = await failure(resolveExperiment(await loadModelProject(tree.primary)))
    expect(error).toBeInstanceOf(ConfigError)
    expect(error.exitCode).toBe(2)
    expect(error.code).toBe('VARIANT_NOT_FOUND')
    // iris/model.yaml: the third variant is line 16, and its model's value starts at column 32.
    expect(error.message).toMatch(
      /model\.yaml:16:32 \[experiment\.variants\[2\]\.model\]: variant "quantised": \.\.\/iris-int8 has no model\.yaml/,
    )
  })

  it("refuses a variant whose inputs and labels are not this model's, listing each difference", async () => {
    tree = await writeExperimentTree(README_EXAMPLE, {'iris-int8': '1.0.1'})
    await writeMlpDir(
      path.join(tree.root, 'iris-v2'),
      5,
      3,
      '    - {name: probabilities, dtype: float32, shape: [batch, 3], labels: [a, b, c]}\n',
    )
    const error = await failure(resolveExperiment(await loadModelProject(tree.primary)))
    expect(error.exitCode).toBe(2)
    expect(error.code).toBe('VARIANT_INCOMPATIBLE')
    expect(error.message).toContain('[experiment.variants[1].model]: variant "candidate" (../iris-v2) cannot answer')
    expect(error.details.problems).toEqual([
      'input "features": dimension 1 is 5, not 4 ([batch, 5] against [batch, 4])',
      'output "probabilities": the labels differ ([a, b, c] against [setosa, versicolor, virginica]): the same class index would mean another class',
    ])
  })

  it("names the variant's own model.yaml problem at the variant's line", async () => {
    tree = await writeExperimentTree(README_EXAMPLE, {'iris-int8': '1.0.1', 'iris-v2': '2.0.0'})
    await writeFile(
      path.join(tree.root, 'iris-v2', 'model.yaml'),
      'name: iris\nversion: 2.0\nmodel: {file: model.onnx}\n',
    )
    const error = await failure(resolveExperiment(await loadModelProject(tree.primary)))
    expect(error.exitCode).toBe(2)
    expect(error.message).toContain('[experiment.variants[1].model]: variant "candidate" (../iris-v2) cannot be loaded')
    expect(error.message).toContain('iris-v2/model.yaml:2:10 [version]')
  })

  it('refuses a label outcome for a model that predicts a value', async () => {
    tree = await writeExperimentTree(README_EXAMPLE, {})
    const primary = path.join(tree.root, 'regression')
    await writeMlpDir(
      primary,
      4,
      1,
      `    - {name: probabilities, dtype: float32, shape: [batch, 1]}
experiment:
  name: reg
  variants:
    - {name: a, model: ., weight: 50}
    - {name: b, model: ., weight: 50}
  outcome: {type: label}
`,
    )
    const error = await failure(resolveExperiment(await loadModelProject(primary)))
    expect(error.message).toMatch(/\[experiment\.outcome\.type\]: a "label" outcome needs a classifier/)
  })
})
