import type {BuildProgressEvent} from './build-image.js'
import {formatBytes} from '../util/bytes.js'

export interface ProgressWriter {
  write(text: string): unknown
  isTTY?: boolean
}

/**
 * Renders build progress step by step: one line per Dockerfile step, marked "cached" when the engine re-used a
 * layer, with the time each step took. Meant for a terminal on stderr; `verbose` also shows what the steps print.
 */
export function buildProgressRenderer(
  out: ProgressWriter,
  options: {verbose?: boolean} = {},
): {
  onProgress: (event: BuildProgressEvent) => void
  finish: () => void
} {
  let current: {index: number; total: number; instruction: string; started: number; cached: boolean} | undefined
  const flush = () => {
    if (!current) return
    const width = String(current.total).length
    const seconds = ((performance.now() - current.started) / 1000).toFixed(1)
    const labels = current.instruction.startsWith('LABEL ')
      ? current.instruction.match(/[\w.-]+="/g)?.length
      : undefined
    const text = labels ? `LABEL (${labels} labels: OCI, model sha256, signature, OpenAPI...)` : current.instruction
    const instruction = text.length > 90 ? `${text.slice(0, 87)}...` : text
    out.write(
      `  [${String(current.index).padStart(width)}/${current.total}] ${instruction}  ${current.cached ? 'cached' : `${seconds}s`}\n`,
    )
    current = undefined
  }
  return {
    finish: flush,
    onProgress(event) {
      switch (event.type) {
        case 'context':
          out.write(`Build context: ${event.fileCount} files, ${formatBytes(event.sizeBytes)}\n`)
          break
        case 'up-to-date':
          out.write(`Up to date: an image with the same inputs exists (${event.imageId.slice(7, 19)}).\n`)
          break
        case 'step':
          flush()
          current = {
            cached: false,
            index: event.index,
            instruction: event.instruction,
            started: performance.now(),
            total: event.total,
          }
          break
        case 'cached':
          if (current) current.cached = true
          break
        case 'output':
          if (options.verbose) out.write(`      ${event.text}\n`)
          break
      }
    },
  }
}
