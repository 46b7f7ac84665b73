import {execa} from 'execa'
import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {inCi} from '../../docker/test-support/engine.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.resolve(here, '../../..')

/**
 * A python3 that imports torch: MLSHIP_TORCH_PYTHON (scripts/test-torch.sh exports it), else /usr/bin/python3.
 * Outside CI a missing torch skips the tests that need it; in CI it fails them (a skip there would hide a broken
 * test setup).
 */
export async function torchPython(): Promise<{python?: string; skipReason?: string}> {
  const python = process.env.MLSHIP_TORCH_PYTHON ?? '/usr/bin/python3'
  const probe = await execa(python, ['-c', 'import torch'], {reject: false, timeout: 60_000})
  if (probe.exitCode === 0) return {python}
  const why = `${python} cannot import torch (${probe.stderr.split('\n').at(-1) ?? probe.exitCode})`
  if (inCi()) throw new Error(`CI is set and ${why}: source scripts/test-torch.sh first (scripts/test-all.sh does)`)
  return {skipReason: `${why}; these tests run in CI`}
}

export interface LargerMlpOptions {
  hidden?: number
  epochs?: number
}

/**
 * A model directory with an MLP larger than the digits example (64 -> 2048 -> 2048 -> 2048 -> 10, 8.5 million
 * weights, 34 MB), trained by torch on the digits training split (make_mlp.py), with its model.yaml.
 */
export async function largerMlp(python: string, dir: string, options: LargerMlpOptions = {}): Promise<unknown> {
  await mkdir(dir, {recursive: true})
  const {stdout} = await execa(
    python,
    [
      path.join(here, 'make_mlp.py'),
      path.join(repoRoot, 'examples/digits-mlp/train.csv'),
      dir,
      String(options.hidden ?? 2048),
      String(options.epochs ?? 2),
    ],
    // About a minute of two CPUs on a quiet machine; much more where other work shares them.
    {env: {...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '2'}, timeout: 540_000},
  )
  const labels = Array.from({length: 10}, (_, i) => `"${i}"`).join(', ')
  await writeFile(
    path.join(dir, 'model.yaml'),
    [
      'name: larger-mlp',
      'version: 1.0.0',
      'description: 64-2048-2048-2048-10 MLP trained by torch on the digits split (mlship optimize tests and benchmark).',
      'model:',
      '  file: model.onnx',
      'signature:',
      '  inputs:',
      '    - {name: pixels, dtype: float32, shape: [batch, 64]}',
      '  outputs:',
      `    - {name: probabilities, dtype: float32, shape: [batch, 10], labels: [${labels}]}`,
      '',
    ].join('\n'),
  )
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as unknown
}
