import type {InferenceSession} from 'onnxruntime-node'

import {errorMessage} from '../errors.js'
import {onnxruntime} from '../model/session.js'
import type {BackendInfo, InferenceBackend} from './backend.js'
import {describeRunError, isInputFault, QUIET_RUN_OPTIONS, runFailure} from './inference-errors.js'
import {fromOrtResults, toOrtFeeds} from './ort-tensors.js'

/**
 * An inference backend on one session in this thread, for one prediction in a command (`mlship predict -i`): the
 * session that read the model's signature runs the inference, where a worker thread would load onnxruntime and the
 * model a second time for it. Never for a server: `session.run` blocks the thread it runs on (onnxruntime #19611).
 * Failures are those of the worker pool: values the model refuses are a 422 RequestError, anything else an Error.
 */
export async function sessionBackend(session: InferenceSession, info: BackendInfo): Promise<InferenceBackend> {
  const {Tensor} = await onnxruntime()
  return {
    close: () => session.release(),
    info,
    async run(feeds, options = {}) {
      let results: InferenceSession.OnnxValueMapType
      try {
        const ortFeeds = toOrtFeeds(feeds, Tensor)
        results = options.outputs
          ? await session.run(ortFeeds, [...options.outputs], QUIET_RUN_OPTIONS)
          : await session.run(ortFeeds, QUIET_RUN_OPTIONS)
      } catch (error) {
        const message = errorMessage(error)
        throw runFailure({inputFault: isInputFault(message), message: describeRunError(message)})
      }
      return fromOrtResults(results)
    },
  }
}
