import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {describe, expect, it} from 'vitest'

import {runBundledScript} from './test-support/bundled-script.js'
import {workDirPerTest} from './test-support/work-dir.js'

const root = path.resolve(fileURLToPath(import.meta.url), '../../..')
const loader = path.join(root, 'src/model/onnxruntime-loader.ts')

const workDir = workDirPerTest('mlship-onnxruntime-bundle-test-')

describe('onnxruntime in the server bundle', () => {
  it("carries onnxruntime's JavaScript, and loads only the native addon from node_modules", async () => {
    const result = await runBundledScript(
      workDir(),
      `import {createRequire} from 'node:module'
import {loadOnnxruntime} from ${JSON.stringify(loader)}
const ort = loadOnnxruntime()
const session = await ort.InferenceSession.create(${JSON.stringify(path.join(root, 'examples/iris/model.onnx'))})
const {probabilities} = await session.run({features: new ort.Tensor('float32', Float32Array.from([5.1, 3.5, 1.4, 0.2]), [1, 4])})
const loaded = Object.keys(createRequire(import.meta.url).cache)
console.log(JSON.stringify({
  addon: loaded.filter((file) => file.endsWith('onnxruntime_binding.node')).length,
  fromNodeModules: loaded.filter((file) => /onnxruntime-(node|common)[\\\\/]dist/.test(file)),
  setosa: probabilities.data[0] > 0.9,
}))
`,
    )
    expect(result).toEqual({addon: 1, fromNodeModules: [], setosa: true})
  })
})
