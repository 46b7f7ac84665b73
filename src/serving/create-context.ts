import type {ResolvedModel} from '../model/load-model.js'
import {planPreprocessing} from '../preprocess/plan.js'
import type {InferenceBackend} from './backend.js'
import type {ServerPhase, ServingContext} from './context.js'
import type {Device} from './device.js'
import {openModel} from './open-model.js'
import {openInputPreprocessor} from './open-preprocessor.js'
import type {InputPreprocessor} from './preprocessing.js'
import type {ServingOverrides} from './settings.js'
import type {WorkerPoolOptions} from './worker-pool.js'

/** What a serving context is made of: the model, the serving settings and the inference backend. */
export interface ServingContextOptions {
  /** The model directory, or the path of its model.yaml. Ignored when `project` is given. */
  dir?: string
  /** An already loaded model project (saves loading it twice). */
  project?: ResolvedModel
  /** Overrides of model.yaml's serving settings. */
  serving?: ServingOverrides
  /** cpu or cuda; defaults to MLSHIP_DEVICE, then build.gpu of model.yaml. */
  device?: Device
  /** Environment to read LOG_LEVEL, MLSHIP_DEVICE and MLSHIP_DATA_DIR from (default process.env). */
  env?: NodeJS.ProcessEnv
  /**
   * Wraps the inference backend (batching, admission control, deadlines, cache, metrics): the routes only ever see
   * what this returns.
   */
  wrapBackend?: (
    backend: InferenceBackend,
    context: Omit<ServingContext, 'backend'>,
  ) => InferenceBackend | Promise<InferenceBackend>
  /** Told when an inference worker dies (it is replaced at once); by default logged as an error. */
  onWorkerExit?: WorkerPoolOptions['onWorkerExit']
  /** Use this backend instead of starting a worker pool (tests of wrappers). */
  backend?: InferenceBackend
}

/** The model, its settings and a running backend: what buildApp needs. The phase stays 'starting' until warm-up. */
export async function createServingContext(options: ServingContextOptions): Promise<ServingContext> {
  const {
    backend: started,
    project,
    settings,
  } = await openModel({
    backend: options.backend,
    device: options.device,
    dir: options.dir,
    env: options.env,
    onWorkerExit: options.onWorkerExit,
    project: options.project,
    runIn: 'workers',
    serving: options.serving,
  })
  // Workers this call started would keep the process alive after a start-up failure.
  const stopStarted = async () => {
    if (started !== options.backend) await started.close()
  }
  const limits = {maxBatchSize: settings.maxBatchSize}
  let preprocessor: InputPreprocessor | undefined
  try {
    const plan = planPreprocessing(project.signature, project.file)
    preprocessor = plan ? await openInputPreprocessor(plan, {limits, modelDir: project.dir}) : undefined
  } catch (error) {
    await stopStarted()
    throw error
  }
  const base = {
    limits,
    modelName: project.config.name,
    modelVersion: project.config.version,
    outputNames: project.signature.outputs.map((o) => o.name),
    project,
    settings,
    ...(preprocessor ? {preprocessor} : {}),
    signature: project.signature,
    // One state object for the whole life of the server: wrappers of the backend read the phase too.
    state: {phase: 'starting' as ServerPhase},
  }
  let backend = started
  if (options.wrapBackend) {
    const inner = backend
    try {
      backend = await options.wrapBackend(inner, base)
    } catch (error) {
      // The workers would keep the process alive after a start-up failure (an unwritable prediction log).
      await inner.close()
      throw error
    }
  }
  return {...base, backend}
}
