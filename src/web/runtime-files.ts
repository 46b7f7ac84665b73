import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {resolvePackageDir} from '../image/runtime-files.js'
import type {WebBackend} from './config.js'

/**
 * onnxruntime-web's files for one backend, and nothing else: the package carries seven runtimes (136 MB); a page
 * needs one JS module, its Emscripten loader and its .wasm. Every build is SIMD and can run threads; threads are used
 * only where the page is cross-origin isolated (SharedArrayBuffer), one thread otherwise.
 *   wasm    ort.wasm.min.mjs   + ort-wasm-simd-threaded.{mjs,wasm}           (CPU)
 *   webgpu  ort.webgpu.min.mjs + ort-wasm-simd-threaded.asyncify.{mjs,wasm}  (WebGPU, with the CPU as fallback)
 */
export const WEB_RUNTIME_FILES: Readonly<Record<WebBackend, {module: string; files: readonly string[]}>> = {
  wasm: {
    files: ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'],
    module: 'ort.wasm.min.mjs',
  },
  webgpu: {
    files: ['ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'],
    module: 'ort.webgpu.min.mjs',
  },
}

export interface WebRuntime {
  version: string
  /** The module predict.js imports, relative to runtime/. */
  module: string
  /** Absolute paths of the files that go into runtime/. */
  files: string[]
}

export async function webRuntime(backend: WebBackend): Promise<WebRuntime> {
  const dir = resolvePackageDir('onnxruntime-web')
  const {version} = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as {version: string}
  const chosen = WEB_RUNTIME_FILES[backend]
  return {files: chosen.files.map((file) => path.join(dir, 'dist', file)), module: chosen.module, version}
}
