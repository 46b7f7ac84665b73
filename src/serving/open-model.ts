import path from 'node:path'

import type {LoadedConfig} from '../config/load.js'
import {openModelProject, resolveModelProject, type ResolvedModel} from '../model/load-model.js'
import type {InferenceBackend} from './backend.js'
import type {ServingSettings} from './context.js'
import {assertCudaUsable, chooseDevice, type CudaProbe, type Device} from './device.js'
import {sessionBackend} from './session-backend.js'
import {resolveSettings, type ServingOverrides} from './settings.js'
import {WorkerPool, type WorkerPoolOptions} from './worker-pool.js'

export interface OpenModelOptions {
  /** The model directory (or its model.yaml); read when `project` is not given. Default: the current directory. */
  dir?: string
  /** model.yaml already loaded; when already resolved (it has a signature), the model's signature is not read again. */
  project?: LoadedConfig | ResolvedModel
  /**
   * Where inferences run. 'workers': a pool of inference worker threads, started while this thread reads the model's
   * signature (a server, batch predictions). 'this-thread': the session that read the signature runs them, so the
   * model and onnxruntime load once (one prediction, a baseline pass); never for a server, as session.run blocks the
   * thread it runs on (onnxruntime #19611).
   */
  runIn: 'workers' | 'this-thread'
  /** The CPUs this process may use, where the caller knows them (default usableCpus()). */
  cpus?: number
  /** The device asked for; else MLSHIP_DEVICE, else build.gpu of model.yaml (see chooseDevice). */
  device?: Device
  /** Default: process.env (MLSHIP_DEVICE, MLSHIP_DATA_DIR, LOG_LEVEL). */
  env?: NodeJS.ProcessEnv
  serving?: ServingOverrides
  /** Where the prediction log goes. Default: MLSHIP_DATA_DIR, else the model's directory. */
  dataDir?: string
  /** The nice value of the worker threads (see WorkerPoolOptions.nice). */
  nice?: number
  onWorkerExit?: WorkerPoolOptions['onWorkerExit']
  /** A backend already running (tests, a caller's own): no device is chosen and no session is opened for inferences. */
  backend?: InferenceBackend
  /** How CUDA's presence is probed (tests). */
  cudaProbe?: CudaProbe
}

export interface OpenedModel {
  /** model.yaml and the signature the model is served with, checked against the model. */
  project: ResolvedModel
  settings: ServingSettings
  /** Runs the model; the caller closes it. */
  backend: InferenceBackend
}

/**
 * The one way mlship opens a model to run it (the server, `mlship predict`, `mlship baseline`, an experiment's
 * variants): model.yaml read, the serving settings resolved, the device chosen and refused loudly when it is CUDA and
 * CUDA cannot work (onnxruntime would otherwise fall back to the CPU without a word), the model's signature read and
 * checked against model.yaml's, and the sessions that run it opened. Nothing opened is left running when a step fails.
 */
export async function openModel(options: OpenModelOptions): Promise<OpenedModel> {
  const env = options.env ?? process.env
  // Imported only to read model.yaml: a cluster process is given it, and loads neither the YAML parser nor zod.
  const loaded = options.project ?? (await (await import('../config/load.js')).loadConfig(options.dir ?? '.'))
  const settings: ServingSettings = {
    ...resolveSettings(loaded.config.serving, options.serving ?? {}, env, options.cpus),
    dataDir: path.resolve(options.dataDir ?? (env.MLSHIP_DATA_DIR || loaded.dir)),
  }
  const resolvedAlready = 'signature' in loaded ? (loaded as ResolvedModel) : undefined
  if (options.backend) {
    return {backend: options.backend, project: resolvedAlready ?? (await resolveModelProject(loaded)), settings}
  }
  const device = chooseDevice(options.device, env, loaded.config.build.gpu)
  assertCudaUsable(device, options.cudaProbe)

  if (options.runIn === 'this-thread') {
    const {project, session} = await openModelProject(loaded, {
      executionProviders: [device.device],
      intraOpNumThreads: settings.intraOpThreads,
    })
    const backend = await sessionBackend(session, {
      executionProvider: device.device,
      intraOpThreads: settings.intraOpThreads,
      workers: 1,
    })
    return {backend, project: resolvedAlready ?? project, settings}
  }

  // The inference workers need the config alone: they start while this thread opens the model for its signature
  // (an onnxruntime session of its own), rather than after it.
  const [resolved, started] = await Promise.allSettled([
    resolvedAlready ?? resolveModelProject(loaded),
    WorkerPool.start({
      device: device.device,
      intraOpThreads: settings.intraOpThreads,
      modelPath: loaded.modelPath,
      nice: options.nice,
      onWorkerExit: options.onWorkerExit,
      workers: settings.workers,
    }),
  ])
  if (resolved.status === 'rejected') {
    // Workers left running would keep the process alive after the failure.
    if (started.status === 'fulfilled') await started.value.close()
    throw resolved.reason
  }
  if (started.status === 'rejected') throw started.reason
  return {backend: started.value, project: resolved.value, settings}
}
