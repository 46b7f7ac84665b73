import {parentPort} from 'node:worker_threads'

import {errorMessage} from '../errors.js'
import {LiveLoad, type LiveLoadOptions, type LiveSegment, type LiveStep, type LiveWindow} from './live-load.js'

/**
 * The live load's thread: an event loop of its own, so the page, an in-process server under test and the scrapes of
 * its /metrics do not delay a send (on few cores they still share the CPUs, which the windows measure).
 */
export type LiveWorkerRequest =
  | {type: 'start'; options: LiveLoadOptions}
  | {type: 'rate'; rate: number; step: LiveStep | null}
  | {type: 'target'; url: string; target: string | null}
  | {type: 'stop'}

export type LiveWorkerReply =
  | {type: 'window'; window: LiveWindow}
  | {type: 'segment'; segment: LiveSegment}
  | {type: 'stopped'}
  | {type: 'error'; error: string}

const port = parentPort
if (port) {
  let load: LiveLoad | undefined
  const post = (reply: LiveWorkerReply) => port.postMessage(reply)
  port.on('message', (message: LiveWorkerRequest) => {
    try {
      switch (message.type) {
        case 'start': {
          load = new LiveLoad(message.options, {
            onSegment: (segment) => post({segment, type: 'segment'}),
            onWindow: (window) => post({type: 'window', window}),
          })
          break
        }
        case 'rate': {
          load?.setRate(message.rate, message.step)
          break
        }
        case 'target': {
          load?.setTarget(message.url, message.target)
          break
        }
        case 'stop': {
          const stopping = load?.stop() ?? Promise.resolve()
          stopping.then(
            () => post({type: 'stopped'}),
            (error: unknown) => post({error: errorMessage(error), type: 'error'}),
          )
          break
        }
      }
    } catch (error) {
      post({error: errorMessage(error), type: 'error'})
    }
  })
}
