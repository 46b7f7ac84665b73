import {describe, expect, it} from 'vitest'

import {engineAuthConfig} from './engine-transfer.js'
import {layerProgressRenderer} from './progress.js'

describe('layerProgressRenderer', () => {
  it('draws one line per layer and redraws the block in place as layers finish', () => {
    let out = ''
    const renderer = layerProgressRenderer({write: (text: string) => (out += text)})
    renderer.onProgress({id: 'aaa', state: 'preparing', type: 'layer'})
    renderer.onProgress({id: 'bbb', state: 'exists', type: 'layer'})
    renderer.onProgress({current: 500, id: 'aaa', state: 'pushing', total: 2000, type: 'layer'})
    renderer.onProgress({id: 'aaa', state: 'pushed', type: 'layer'})
    renderer.finish()
    const frames = out.split('\u001B[2A')
    const last = frames.at(-1)!
    expect(last).toContain('aaa  pushed  2.00 kB')
    expect(last).toContain('bbb  already in the registry')
    expect(frames.length).toBeGreaterThan(2)
  })
})

describe('layerProgressRenderer without a terminal', () => {
  it('writes a plain line when a layer changes state, no cursor moves and no byte counts', () => {
    let out = ''
    const renderer = layerProgressRenderer({write: (text: string) => (out += text)}, {tty: false})
    renderer.onProgress({id: 'aaa', state: 'preparing', type: 'layer'})
    renderer.onProgress({current: 500, id: 'aaa', state: 'pushing', total: 2000, type: 'layer'})
    renderer.onProgress({current: 1500, id: 'aaa', state: 'pushing', total: 2000, type: 'layer'})
    renderer.onProgress({id: 'bbb', state: 'exists', type: 'layer'})
    renderer.onProgress({id: 'aaa', state: 'pushed', type: 'layer'})
    renderer.finish()
    expect(out).toBe('  aaa  preparing\n  aaa  pushing\n  bbb  already in the registry\n  aaa  pushed  2.00 kB\n')
  })
})

describe('engineAuthConfig', () => {
  it('passes a password or an identity token to the engine, and nothing without credentials', () => {
    expect(engineAuthConfig('h:5000', {password: 'p', username: 'u'})).toEqual({
      password: 'p',
      serveraddress: 'h:5000',
      username: 'u',
    })
    expect(engineAuthConfig('ghcr.io', {identityToken: 't', username: ''})).toEqual({
      identitytoken: 't',
      serveraddress: 'ghcr.io',
    })
    expect(engineAuthConfig('h', undefined)).toBeUndefined()
  })
})
