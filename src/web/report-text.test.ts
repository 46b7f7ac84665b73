import {describe, expect, it} from 'vitest'

import {webListeningLine} from './report-text.js'

describe('webListeningLine', () => {
  it('names the bundle, its size and runtime, and whether the page may use threads', () => {
    const info = {
      backend: 'wasm' as const,
      built: false,
      bundleDir: 'iris-web',
      crossOriginIsolated: true,
      name: 'iris-classifier',
      totalBytes: 2048,
      url: 'http://127.0.0.1:8080',
      version: '1.0.0',
    }
    expect(webListeningLine(info)).toBe(
      'Serving the web bundle of iris-classifier@1.0.0 at http://127.0.0.1:8080  ' +
        '(2.05 kB, WebAssembly, cross-origin isolated: threads allowed)',
    )
    expect(webListeningLine({...info, backend: 'webgpu', crossOriginIsolated: false})).toContain(
      'WebGPU + WebAssembly, not isolated: one thread)',
    )
  })
})
