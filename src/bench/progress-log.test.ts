import {describe, expect, it} from 'vitest'

import type {StepProgress} from './load-step.js'
import {benchProgressLog, targetReadyLine} from './progress-log.js'
import {DEFAULT_SLO} from './step-result.js'

const progress: StepProgress = {
  elapsedMs: 1500,
  errors: 0,
  inFlight: 3,
  offeredRps: 200,
  p50Ms: 2,
  p99Ms: 7.5,
  phase: 'measure',
  throughputRps: 199,
}

/** One list for what goes to the terminal and what is logged as a line, in the order it comes. */
function collector(isTTY: boolean) {
  const chunks: string[] = []
  const terminal = {isTTY, write: (text: string) => chunks.push(text)}
  return {chunks, log: (line: string) => chunks.push(`${line}\n`), slo: DEFAULT_SLO, terminal}
}

describe('benchProgressLog', () => {
  it('rewrites one live line on a terminal, labelled with the step, and clears it before any other line', () => {
    const out = collector(true)
    const log = benchProgressLog(out)
    log.hooks.onStepStart!(200, 1, 'gpu')
    log.hooks.onProgress!(progress)
    log.hooks.onNote!('a note')
    log.clear()
    expect(out.chunks[0]).toContain('\r\u001B[2Kgpu #2   measure   1.5s  offered 200/s  done 199/s')
    expect(out.chunks.slice(1)).toEqual(['\r\u001B[2K', 'a note\n'])
  })

  it('shows no live line where stderr is no terminal (a CI log): only whole lines', () => {
    const out = collector(false)
    const log = benchProgressLog(out)
    log.hooks.onProgress!(progress)
    log.note('Interrupted.')
    log.clear()
    expect(out.chunks).toEqual(['Interrupted.\n'])
  })

  it('names each target once it answers', () => {
    const out = collector(false)
    benchProgressLog(out).hooks.onTargetReady!({
      close: async () => {},
      device: 'cpu',
      executionProvider: 'cpu',
      headers: {},
      imageSizeBytes: null,
      kind: 'local',
      timeToReadyMs: 1234,
      url: 'http://127.0.0.1:4000/predict',
    })
    expect(out.chunks).toEqual([
      'Benchmarking http://127.0.0.1:4000/predict on cpu, ready in 1.23 s, execution provider cpu\n',
    ])
  })
})

describe('targetReadyLine', () => {
  const target = {device: null, executionProvider: 'cuda', timeToReadyMs: null, url: 'http://10.0.0.5:8080/predict'}

  it('says only what is known of a server mlship did not start', () => {
    expect(targetReadyLine('Benchmarking', target)).toBe(
      'Benchmarking http://10.0.0.5:8080/predict, execution provider cuda',
    )
    expect(targetReadyLine('Serving', target, {executionProvider: false})).toBe('Serving http://10.0.0.5:8080/predict')
  })
})
