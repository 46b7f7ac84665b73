/**
 * One inference worker thread: opens the model's onnxruntime session once, keeps it for the life of the thread
 * (releasing sessions leaks memory: onnxruntime #25325), and answers run messages one at a time. onnxruntime-node's
 * `session.run` blocks the thread it runs on (onnxruntime #19611), which is why it runs here and not on the event loop.
 *
 * Bundled as its own file beside the server (see entrypoints.ts), so it must not import anything CLI-only.
 */
import {parentPort, workerData} from 'node:worker_threads'
import type ort from 'onnxruntime-node'

import {errorMessage} from '../errors.js'
import {onnxruntime, openSession} from '../model/session.js'
import {describeRunError, isInputFault, QUIET_RUN_OPTIONS} from './inference-errors.js'
import {fromOrtResults, toOrtFeeds} from './ort-tensors.js'
import {lowerThreadPriority} from './thread-priority.js'
import {transferList} from './tensors.js'
import type {JobResult, RunJob, WorkerData, WorkerReply, WorkerRequest} from './worker-protocol.js'

/** Below this size a buffer is cheaper to copy than to transfer. */
const TRANSFER_MIN_BYTES = 64 * 1024

async function main(): Promise<void> {
  const port = parentPort
  if (!port) throw new Error('inference-worker.js runs as a worker thread')
  const options = workerData as WorkerData
  lowerThreadPriority(options.nice)
  let session: ort.InferenceSession
  try {
    session = await openSession(options.modelPath, {
      executionProviders: [options.device],
      intraOpNumThreads: options.intraOpThreads,
    })
  } catch (error) {
    port.postMessage({message: errorMessage(error), type: 'failed'} satisfies WorkerReply)
    return
  }
  // Loaded already by openSession (required, see onnxruntime()), not imported as this module loads.
  const {Tensor} = await onnxruntime()
  port.postMessage({type: 'ready'} satisfies WorkerReply)

  const post = (reply: WorkerReply, transfer: ArrayBuffer[]) => {
    try {
      port.postMessage(reply, transfer)
    } catch {
      // A buffer onnxruntime still owns cannot be transferred: copy instead.
      port.postMessage(reply)
    }
  }

  const runOne = async (job: RunJob): Promise<{result: JobResult; transfer: ArrayBuffer[]}> => {
    try {
      const feeds = toOrtFeeds(job.feeds, Tensor)
      // onnxruntime would also print a failed run to stderr, outside the server's JSON log lines: the server says it.
      const results = job.outputs
        ? await session.run(feeds, job.outputs as string[], QUIET_RUN_OPTIONS)
        : await session.run(feeds, QUIET_RUN_OPTIONS)
      const outputs = fromOrtResults(results)
      return {result: {id: job.id, outputs}, transfer: transferList(outputs, TRANSFER_MIN_BYTES)}
    } catch (error) {
      const message = errorMessage(error)
      return {result: {id: job.id, inputFault: isInputFault(message), message: describeRunError(message)}, transfer: []}
    }
  }

  // Jobs run strictly one after the other: the session runs one inference at a time on this thread. Results of fast
  // jobs travel back together; a result is sent at once when its batch has been running for over a millisecond.
  const runJobs = async (jobs: RunJob[]): Promise<void> => {
    let results: JobResult[] = []
    let transfer: ArrayBuffer[] = []
    let since = performance.now()
    for (const job of jobs) {
      const done = await runOne(job)
      results.push(done.result)
      transfer.push(...done.transfer)
      const now = performance.now()
      if (now - since > 1) {
        post({results, type: 'results'}, transfer)
        results = []
        transfer = []
        since = now
      }
    }
    if (results.length > 0) post({results, type: 'results'}, transfer)
  }

  let chain = Promise.resolve()
  port.on('message', (request: WorkerRequest) => {
    if (request.type === 'run') chain = chain.then(() => runJobs(request.jobs))
  })
}

void main()
