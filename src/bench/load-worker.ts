import {parentPort} from 'node:worker_threads'

import {errorMessage} from '../errors.js'
import {type LoadStepOptions, runLoadStep} from './load-step.js'

/**
 * The load generator's thread. It has an event loop of its own, so an in-process server under test (or the
 * rendering of the live readout) does not delay its sends; on a machine with few cores they still share the CPUs,
 * which the step result measures (send lag, event-loop delay) and reports.
 */
export type WorkerRequest = {type: 'step'; id: number; options: LoadStepOptions}

const port = parentPort
if (port) {
  port.on('message', (message: WorkerRequest) => {
    if (message.type !== 'step') return
    runLoadStep(message.options, (progress) => port.postMessage({id: message.id, progress, type: 'progress'}))
      .then((result) => port.postMessage({id: message.id, result, type: 'result'}))
      .catch((error: unknown) => port.postMessage({error: errorMessage(error), id: message.id, type: 'error'}))
  })
}
