import type {Dimension} from '../config/schema.js'

/*
 * Pure helpers over shapes, apart from signature.ts (which opens onnxruntime-node sessions) so that code bundled for
 * the browser (the request decoder of the web target) can use them.
 */

export function isDynamic(dim: Dimension): boolean {
  return typeof dim === 'string' || dim < 0
}

export function formatShape(shape: readonly Dimension[]): string {
  return `[${shape.map((d) => (typeof d === 'number' && d < 0 ? '?' : String(d))).join(', ')}]`
}
