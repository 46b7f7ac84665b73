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
import {RequestError} from './request-error.js'
import {transferList} from './tensors.js'
import {lowerThreadPriority} from './thread-priority.js'

function main(): void {
  const port = parentPort
  if (!port) throw new Error('decode-worker.js runs as a worker thread')
  const {limits, outputNames, signature} = workerData as DecodeWorkerData
  lowerThreadPriority()
  const text = new TextDecoder()
  port.on('message', (job: DecodeJob) => {
    let reply: DecodeReply
    let transfer: ArrayBuffer[] = []
    try {
      const value = parseJsonBody(text.decode(job.body))
      const decoded: DecodedRequest =
        job.kind === 'seed'
          ? {feeds: decodeSeedBody(value, signature, limits)}
          : decodeV2Body(value, signature, limits, outputNames)
      reply = {decoded, id: job.id}
      transfer = transferList(decoded.feeds)
    } catch (error) {
      reply = {
        error:
          error instanceof RequestError
            ? {message: error.message, statusCode: error.statusCode}
            : {message: errorMessage(error), statusCode: 500},
        id: job.id,
      }
    }
    port.postMessage(reply, transfer)
  })
}

main()
