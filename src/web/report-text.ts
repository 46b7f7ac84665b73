import {formatBytes} from '../util/bytes.js'
import type {BuildWebResult} from './build-web.js'
import type {ServeWebInfo} from './serve-web.js'

/** For stdout, once `serve --target web` listens: the bundle, its size and runtime, and whether threads are allowed. */
export function webListeningLine(info: ServeWebInfo): string {
  const runtime = info.backend === 'webgpu' ? 'WebGPU + WebAssembly' : 'WebAssembly'
  const isolation = info.crossOriginIsolated ? ', cross-origin isolated: threads allowed' : ', not isolated: one thread'
  const bundle = `the web bundle of ${info.name}@${info.version}`
  return `Serving ${bundle} at ${info.url}  (${formatBytes(info.totalBytes)}, ${runtime}${isolation})`
}

/** `build --target web`: the bundle's files and download size, the check in onnxruntime-web, and how to serve it. */
export function webBundleText(result: BuildWebResult): string {
  const {sizes} = result
  const backend = result.backend === 'webgpu' ? 'WebGPU + WebAssembly' : 'WebAssembly SIMD'
  const runtime = `onnxruntime-web ${result.onnxruntimeWeb}, ${backend}`
  return [
    `Wrote the web bundle of ${result.name}@${result.version} to ${result.outputDir}`,
    ...result.files.map((file) => `  ${file.path.padEnd(44)} ${formatBytes(file.bytes).padStart(9)}`),
    `  size     ${formatBytes(sizes.totalBytes)} to download: ` +
      `runtime ${formatBytes(sizes.runtimeBytes)} (${runtime}), ` +
      `model ${formatBytes(sizes.modelBytes)}, page ${formatBytes(sizes.pageBytes)}`,
    `  checked  loads and runs in onnxruntime-web (${result.check.loadMs.toFixed(0)} ms here, one thread)`,
    `\nServe it: mlship serve ${result.outputDir} --target web`,
  ].join('\n')
}
