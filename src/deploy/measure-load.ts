import type {ResolvedModel} from '../model/load-model.js'
import {warmUpFeeds} from '../serving/warm-up.js'
import {WorkerPool} from '../serving/worker-pool.js'

/**
 * How long the server takes to be ready for this model, measured here the way the server does it: one inference
 * worker thread starts, opens the onnxruntime session and runs the warm-up inference (on the CPU: CUDA start-up is
 * budgeted separately, see probes.ts). Seconds.
 */
export async function measureModelLoad(
  project: ResolvedModel,
  clock: () => number = () => performance.now(),
): Promise<number> {
  const started = clock()
  const pool = await WorkerPool.start({
    device: 'cpu',
    intraOpThreads: project.config.serving.intra_op_threads,
    modelPath: project.modelPath,
    workers: 1,
  })
  try {
    await pool.run(warmUpFeeds({signature: project.signature}))
    return (clock() - started) / 1000
  } finally {
    await pool.close()
  }
}
