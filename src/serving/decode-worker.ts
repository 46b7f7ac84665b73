/**
 * One decode thread: turns a large request body (JSON text) into the tensors of the request, the same way the HTTP
 * thread does for small ones (parseJsonBody, then decodeSeedBody or decodeV2Body), so that a 9 MB body costs the event
 * loop a message instead of a hundred milliseconds of JSON.parse. The tensors travel back transferred, not copied.
 *
 * Bundled as its own file beside the server (see entrypoints.ts): it imports nothing that loads onnxruntime.
 */
import {parentPort, workerData} from 'node:worker_threads'

import {errorMessage} from '../errors.js'
import {decodeSeedBody, decodeV2Body} from './decode.js'
import type {DecodedRequest, DecodeJob, DecodeReply, DecodeWorkerData} from './decode-protocol.js'
import {parseJsonBody} from './json-body.js'
import {openInputPreprocessor} from './open-preprocessor.js'
import type {RawInputs} from './preprocessing.js'
import {decodeV2WithPlan, splitSeedBody} from './raw-inputs.js'
import {planPreprocessing} from '../preprocess/plan.js'
import {RequestError} from './request-error.js'
import {retryingLazy} from './retrying-lazy.js'
import {transferList} from './tensors.js'
import {lowerThreadPriority} from './thread-priority.js'

function main(): void {
  const port = parentPort
  if (!port) throw new Error('decode-worker.js runs as a worker thread')
  const {limits, modelDir, outputNames, signature} = workerData as DecodeWorkerData
  lowerThreadPriority()
  const text = new TextDecoder()
  const plan = planPreprocessing(signature)
  const tensorSignature = plan ? {inputs: plan.tensorInputs, outputs: signature.outputs} : signature
  // The images and texts of a body go back as they came (the HTTP thread preprocesses them); the tensors are decoded.
  const seedRequest = (value: unknown): DecodedRequest => {
    if (!plan) return {feeds: decodeSeedBody(value, signature, limits)}
    const {raw, tensorBody} = splitSeedBody(value, plan)
    const feeds = tensorBody === undefined ? {} : decodeSeedBody(tensorBody, tensorSignature, limits)
    return {feeds, raw: raw as Record<string, string[]>}
  }
  // sharp and the tokenizers load with the first request handed over (a thread that never gets one never loads them).
  // A failure to load them fails the requests of the moment, not the thread for good: the next request tries again.
  const preprocessor = plan ? retryingLazy(() => openInputPreprocessor(plan, {limits, modelDir})) : undefined
  const preprocess = async (rows: RawInputs) => {
    if (!preprocessor) throw new Error('this model declares no preprocess:')
    return {feeds: await (await preprocessor()).feeds(rows)}
  }
  port.on('message', (job: DecodeJob) => {
    const answer = async (): Promise<DecodedRequest> => {
      if (job.kind === 'preprocess') return preprocess(job.rows)
      const value = parseJsonBody(text.decode(job.body))
      if (job.kind === 'seed') return seedRequest(value)
      return plan
        ? (decodeV2WithPlan(value, signature, plan, limits, outputNames) as DecodedRequest)
        : decodeV2Body(value, signature, limits, outputNames)
    }
    answer().then(
      (decoded) => port.postMessage({decoded, id: job.id} satisfies DecodeReply, transferList(decoded.feeds)),
      (error: unknown) =>
        port.postMessage({
          error:
            error instanceof RequestError
              ? {message: error.message, statusCode: error.statusCode}
              : {message: errorMessage(error), statusCode: 500},
          id: job.id,
        } satisfies DecodeReply),
    )
  })
}

main()
