import {loadConfig} from '../config/load.js'
import {loadModelProject, openModelProject, type ResolvedModel} from '../model/load-model.js'
import type {InferenceBackend} from '../serving/backend.js'
import {assertCudaUsable, chooseDevice, type Device} from '../serving/device.js'
import {resolveSettings, type ServingOverrides} from '../serving/settings.js'
import type {ServingSettings} from '../serving/context.js'
import {sessionBackend} from '../serving/session-backend.js'
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

/**
 * The model of DIR for one prediction in this process: opened once, in this thread (see sessionBackend), where the
 * worker threads of openLocalModel would load onnxruntime and the model again to answer it.
 */
export async function openModelInThread(options: LocalModelOptions): Promise<LocalModel> {
  const loaded = await loadConfig(options.dir)
  const settings = {...resolveSettings(loaded.config.serving, options.serving ?? {}, process.env), dataDir: loaded.dir}
  const device = chooseDevice(options.device, process.env, loaded.config.build.gpu)
  assertCudaUsable(device)
  const {project, session} = await openModelProject(loaded, {
    executionProviders: [device.device],
    intraOpNumThreads: settings.intraOpThreads,
  })
  const backend = await sessionBackend(session, {
    executionProvider: device.device,
    intraOpThreads: settings.intraOpThreads,
    workers: 1,
  })
  return {backend, project, settings}
}
