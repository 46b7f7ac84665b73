import {copyFile, mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

const repoRoot = path.resolve(import.meta.dirname, '../../..')
export const IRIS_MODEL = path.join(repoRoot, 'examples', 'iris', 'model.onnx')

export const IRIS_SIGNATURE = `signature:
  inputs:
    - {name: features, dtype: float32, shape: [batch, 4], example: [[5.1, 3.5, 1.4, 0.2]]}
  outputs:
    - {name: probabilities, dtype: float32, shape: [batch, 3], labels: [setosa, versicolor, virginica]}
`

export interface IrisDirOptions {
  version?: string
  /** More model.yaml, after the signature (serving:, experiment:, ...). */
  extraYaml?: string
  /** Another signature block (to make a variant incompatible). */
  signature?: string
  /** Another ONNX file than the iris example's. */
  modelFile?: string
}

/** A model directory with the iris example's model (one worker, no batching delay) and a model.yaml. */
export async function writeIrisDir(dir: string, options: IrisDirOptions = {}): Promise<string> {
  await mkdir(dir, {recursive: true})
  await copyFile(options.modelFile ?? IRIS_MODEL, path.join(dir, 'model.onnx'))
  await writeFile(
    path.join(dir, 'model.yaml'),
    [
      'name: iris-classifier',
      `version: ${options.version ?? '1.0.0'}`,
      'model: {file: model.onnx}',
      options.signature ?? IRIS_SIGNATURE,
      'serving: {workers: 1}',
      options.extraYaml ?? '',
    ].join('\n'),
  )
  return dir
}

export interface ExperimentTree {
  root: string
  /** The primary model directory (the one with experiment:). */
  primary: string
  dispose(): Promise<void>
}

/**
 * A temporary folder with `iris/` (the primary, whose model.yaml has `experimentYaml` as its experiment: section) and
 * one iris directory per entry of `variants` (folder name -> version), all with the same model.
 */
export async function writeExperimentTree(
  experimentYaml: string,
  variants: Record<string, string | IrisDirOptions>,
): Promise<ExperimentTree> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'mlship-experiment-'))
  const primary = await writeIrisDir(path.join(root, 'iris'), {extraYaml: `experiment:\n${experimentYaml}`})
  for (const [folder, options] of Object.entries(variants))
    await writeIrisDir(path.join(root, folder), typeof options === 'string' ? {version: options} : options)
  return {dispose: () => rm(root, {force: true, recursive: true}), primary, root}
}
