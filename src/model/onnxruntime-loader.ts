/**
 * How onnxruntime-node is loaded: required when the first model is opened rather than when a module loads (its native
 * library takes tens of milliseconds to load, and most commands never open a model: test/startup.test.ts). Required,
 * not imported: it is CommonJS, and an import() of it has Node's ES module loader read and lex its every file (and
 * onnxruntime-common's) to find their named exports. The image's server bundle replaces this module
 * (image/onnxruntime-bundle.ts) with one that carries onnxruntime's JavaScript in the bundle itself.
 */
import {createRequire} from 'node:module'
import type * as ort from 'onnxruntime-node'

export function loadOnnxruntime(): typeof ort {
  return createRequire(import.meta.url)('onnxruntime-node') as typeof ort
}
