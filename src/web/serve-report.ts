import {formatBytes} from '../util/bytes.js'
import type {ServeWebInfo} from './serve-web.js'

/** For stdout, once `serve --target web` listens: the bundle, its size and runtime, and whether threads are allowed. */
export function webListeningLine(info: ServeWebInfo): string {
  const runtime = info.backend === 'webgpu' ? 'WebGPU + WebAssembly' : 'WebAssembly'
  const isolation = info.crossOriginIsolated ? ', cross-origin isolated: threads allowed' : ', not isolated: one thread'
  const bundle = `the web bundle of ${info.name}@${info.version}`
  return `Serving ${bundle} at ${info.url}  (${formatBytes(info.totalBytes)}, ${runtime}${isolation})`
}
