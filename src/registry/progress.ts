import {formatBytes} from '../util/bytes.js'
import type {LayerProgressEvent, LayerState} from './engine-transfer.js'

export interface ProgressWriter {
  write(text: string): unknown
}

const LABEL: Record<LayerState, string> = {
  exists: 'already in the registry',
  mounted: 'mounted',
  preparing: 'preparing',
  pulled: 'pulled',
  pulling: 'pulling',
  pushed: 'pushed',
  pushing: 'pushing',
  waiting: 'waiting',
}

/**
 * One line per layer on a terminal, redrawn in place (at most ten times a second) as the engine reports progress:
 * which layers upload, how far, and which the registry already has. Without a terminal (`tty: false`, a CI log), a
 * plain line each time a layer changes state, and none for byte counts.
 */
export function layerProgressRenderer(
  out: ProgressWriter,
  options: {tty?: boolean} = {},
): {
  onProgress: (event: LayerProgressEvent) => void
  finish: () => void
} {
  if (options.tty === false) return layerStateLines(out)
  const layers = new Map<string, LayerProgressEvent>()
  let drawn = 0
  let last = 0
  const draw = () => {
    last = Date.now()
    let text = drawn > 0 ? `\u001B[${drawn}A` : ''
    for (const layer of layers.values()) {
      const bytes =
        layer.state === 'pushing' && layer.total
          ? `  ${formatBytes(layer.current ?? 0)} / ${formatBytes(layer.total)}`
          : layer.state === 'pushed' && layer.total
            ? `  ${formatBytes(layer.total)}`
            : ''
      text += `\u001B[2K  ${layer.id}  ${LABEL[layer.state]}${bytes}\n`
    }
    drawn = layers.size
    out.write(text)
  }
  return {
    // Draws the final state and forgets the block: what is written next starts below it.
    finish: () => {
      if (layers.size > 0) draw()
      layers.clear()
      drawn = 0
    },
    onProgress(event) {
      const known = layers.has(event.id)
      const previous = layers.get(event.id)
      layers.set(event.id, {...event, total: event.total ?? previous?.total})
      // New layers and final states draw at once; byte counts at most every 100 ms.
      if (!known || event.state !== 'pushing' || Date.now() - last > 100) draw()
    },
  }
}

function layerStateLines(out: ProgressWriter): {onProgress: (event: LayerProgressEvent) => void; finish: () => void} {
  const states = new Map<string, {state: LayerState; total?: number}>()
  return {
    finish: () => states.clear(),
    onProgress(event) {
      const previous = states.get(event.id)
      const total = event.total ?? previous?.total
      states.set(event.id, {state: event.state, total})
      if (previous?.state === event.state) return
      const bytes = event.state === 'pushed' && total ? `  ${formatBytes(total)}` : ''
      out.write(`  ${event.id}  ${LABEL[event.state]}${bytes}\n`)
    },
  }
}
