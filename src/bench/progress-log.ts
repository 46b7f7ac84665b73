import type {ProgressWriter} from '../image/progress.js'
import type {BenchHooks} from './bench.js'
import {liveLine, stepLine} from './report-text.js'
import type {Slo} from './step-result.js'
import type {BenchTarget} from './target.js'

export interface BenchProgressLog {
  /** runBench's hooks: notes, one line per target and per finished step, the live line of the running step. */
  hooks: BenchHooks
  /** A line of its own (the live line, where one is shown, is cleared first). */
  note(message: string): void
  /** Clears the live line; call it when the run ends, however it ends. */
  clear(): void
}

export interface BenchProgressLogOptions {
  /** Writes one whole line (the command's stderr). */
  log: (line: string) => void
  /** Where the live line is rewritten in place: stderr, shown only where it is a terminal. */
  terminal: ProgressWriter
  slo: Slo
}

/**
 * The stderr of a batch run (`mlship bench` without --ui): one line per finished step, for CI logs and terminals
 * alike, and on a terminal a live line of the running step, rewritten in place and cleared before any other line.
 */
export function benchProgressLog({log, slo, terminal: out}: BenchProgressLogOptions): BenchProgressLog {
  let live = false
  let current = 'step'
  const clear = () => {
    if (live) out.write('\r\u001B[2K')
    live = false
  }
  const note = (message: string) => {
    clear()
    log(message)
  }
  return {
    clear,
    hooks: {
      onNote: note,
      onProgress: (progress) => {
        if (!out.isTTY) return
        out.write(`\r\u001B[2K${liveLine(progress, slo, current)}`)
        live = true
      },
      onStepEnd: (step, _index, device) => note(stepLine(step, device ?? 'step')),
      onStepStart: (_rate, index, device) => {
        current = `${device ?? 'step'} #${index + 1}`
      },
      onTargetReady: (target) => note(targetReadyLine('Benchmarking', target)),
    },
    note,
  }
}

/** "Benchmarking URL on gpu, ready in 1.20 s, execution provider cuda": what a target is, once it answers. */
export function targetReadyLine(
  verb: 'Benchmarking' | 'Serving',
  target: Pick<BenchTarget, 'device' | 'executionProvider' | 'timeToReadyMs' | 'url'>,
  options: {executionProvider?: boolean} = {executionProvider: true},
): string {
  return (
    `${verb} ${target.url}${target.device ? ` on ${target.device}` : ''}` +
    (target.timeToReadyMs === null ? '' : `, ready in ${(target.timeToReadyMs / 1000).toFixed(2)} s`) +
    (options.executionProvider && target.executionProvider ? `, execution provider ${target.executionProvider}` : '')
  )
}
