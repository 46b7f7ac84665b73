import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

import {ExitCode, MlshipError} from '../errors.js'

export type Device = 'cpu' | 'cuda'

export interface DeviceChoice {
  device: Device
  /** What chose it, for messages: the option, MLSHIP_DEVICE, or build.gpu in model.yaml. */
  source: string
}

/** The device asked for: an explicit option, else MLSHIP_DEVICE, else `build.gpu` of model.yaml. */
export function chooseDevice(option: Device | undefined, env: NodeJS.ProcessEnv, buildGpu: boolean): DeviceChoice {
  if (option) return {device: option, source: 'the --device option'}
  const fromEnv = env.MLSHIP_DEVICE?.trim().toLowerCase()
  if (fromEnv) {
    if (fromEnv !== 'cpu' && fromEnv !== 'cuda') {
      throw new MlshipError(`MLSHIP_DEVICE="${env.MLSHIP_DEVICE}" is not a device: use cpu or cuda`, {
        code: 'DEVICE_INVALID',
        exitCode: ExitCode.usage,
      })
    }
    return {device: fromEnv, source: 'MLSHIP_DEVICE'}
  }
  return buildGpu ? {device: 'cuda', source: 'build.gpu in model.yaml'} : {device: 'cpu', source: 'the default'}
}

/**
 * Fetches onnxruntime-node's CUDA 12 execution provider into its binding folder. An install script does that
 * (onnxruntime-node's script/install.js), and mlship's .npmrc turns install scripts off: the flag turns them back on
 * for this one command.
 */
export const CUDA_INSTALL_COMMAND =
  'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --ignore-scripts=false'

export interface CudaProbe {
  exists?: (file: string) => boolean
  /** The folder of onnxruntime-node's native binding. */
  bindingDir?: string
}

/**
 * Refuses CUDA when it cannot work, before onnxruntime gets the chance to fall back to the CPU without a word
 * (onnxruntime #9451): the CUDA provider library must sit beside onnxruntime-node's binding, and an NVIDIA driver
 * must be present.
 */
export function assertCudaUsable(choice: DeviceChoice, probe: CudaProbe = {}): void {
  if (choice.device !== 'cuda') return
  const exists = probe.exists ?? existsSync
  const bindingDir = probe.bindingDir ?? ortBindingDir()
  const provider = path.join(bindingDir, 'libonnxruntime_providers_cuda.so')
  const refuse = (why: string, suggestions: string[]) =>
    new MlshipError(
      `CUDA was asked for (${choice.source}) but cannot be used: ${why}. The server does not fall back to the CPU.`,
      {
        code: 'CUDA_UNAVAILABLE',
        details: {provider, source: choice.source},
        exitCode: ExitCode.usage,
        suggestions: [
          ...suggestions,
          'To serve on the CPU instead, set MLSHIP_DEVICE=cpu (or build.gpu: false in model.yaml).',
        ],
      },
    )
  if (!exists(provider)) {
    throw refuse(`onnxruntime-node's CUDA execution provider is not installed (${provider} is missing)`, [
      'In the project that has mlship installed, on a machine with internet access, fetch the CUDA 12 binaries: ' +
        `${CUDA_INSTALL_COMMAND} (--ignore-scripts=false overrides the ignore-scripts=true of mlship's .npmrc: ` +
        'a plain npm install runs no install script and fetches nothing).',
    ])
  }
  if (!exists('/proc/driver/nvidia/version') && !exists('/dev/nvidiactl')) {
    throw refuse(
      'no NVIDIA driver or GPU is visible to this process (/proc/driver/nvidia/version and /dev/nvidiactl are missing)',
      ['In a container, pass the GPUs through (docker run --gpus all, or `mlship serve --gpus`).'],
    )
  }
}

export function ortBindingDir(): string {
  const require = createRequire(import.meta.url)
  const main = require.resolve('onnxruntime-node')
  return path.join(path.dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch)
}
