import {describe, expect, it} from 'vitest'

import type {ServeInProcessInfo} from './serve-in-process.js'
import {inProcessListeningText} from './serve-report.js'

const info: ServeInProcessInfo = {
  executionProvider: 'cpu',
  host: '127.0.0.1',
  layout: {kind: 'single', reason: 'one usable CPU'},
  model: 'iris-classifier',
  routes: ['POST /predict', 'GET /health'],
  url: 'http://127.0.0.1:8080',
  version: '1.0.0',
  workers: 1,
}

describe('inProcessListeningText', () => {
  it('names the model, its workers, layout and routes, and what to try', () => {
    expect(inProcessListeningText(info)).toBe(
      [
        'Serving iris-classifier@1.0.0 at http://127.0.0.1:8080  (1 inference worker, cpu)',
        'Layout: single (one usable CPU)',
        'Routes:\n  POST /predict\n  GET /health',
        'Try:  curl -s http://127.0.0.1:8080/health\nAPI page: http://127.0.0.1:8080/docs\nPress Ctrl-C to stop.',
      ].join('\n'),
    )
  })

  it('counts HTTP processes in the cluster layout', () => {
    const cluster = {...info, layout: {kind: 'cluster', processes: 2, reason: '2 CPUs'} as const, workers: 2}
    expect(inProcessListeningText(cluster)).toContain('(2 HTTP processes, each with the model in-process, cpu)')
  })
})
