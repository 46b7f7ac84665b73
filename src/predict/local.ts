import {loadModelProject, type ResolvedModel} from '../model/load-model.js'
import type {InferenceBackend} from '../serving/backend.js'
import {assertCudaUsable, chooseDevice, type Device} from '../serving/device.js'
import {resolveSettings, type ServingOverrides} from '../serving/settings.js'
import type {ServingSettings} from '../serving/context.js'
import {WorkerPool} from '../serving/worker-pool.js'

export interface LocalModelOptions {
  dir: string
  device?: Device
  serving?: ServingOverrides
}

export interface LocalModel {
  project: ResolvedModel
  settings: ServingSettings
  backend: InferenceBackend
}

/** The model of DIR with the same inference workers as the server, for predictions without a server. */
export async function openLocalModel(options: LocalModelOptions): Promise<LocalModel> {
  const project = await loadModelProject(options.dir)
  const settings = {
    ...resolveSettings(project.config.serving, options.serving ?? {}, process.env),
    dataDir: project.dir,
  }
  const device = chooseDevice(options.device, process.env, project.config.build.gpu)
  assertCudaUsable(device)
  const backend = await WorkerPool.start({
    device: device.device,
    intraOpThreads: settings.intraOpThreads,
    modelPath: project.modelPath,
    workers: settings.workers,
  })
  return {backend, project, settings}
}
