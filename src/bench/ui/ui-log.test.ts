import {describe, expect, it} from 'vitest'

import {benchUiLog} from './ui-log.js'

function collector() {
  const lines: string[] = []
  return {lines, log: (line: string) => lines.push(`${line}\n`)}
}

describe('benchUiLog', () => {
  it('prints the page URL and opens it where asked; a browser that fails to open leaves the URL to open by hand', async () => {
    const out = collector()
    const opened: string[] = []
    const hooks = benchUiLog({
      ...out,
      open: true,
      opener: async (url) => {
        opened.push(url)
        throw new Error('no browser')
      },
    })
    hooks.onReady!('http://127.0.0.1:8790/')
    await new Promise((resolve) => setImmediate(resolve))
    expect(opened).toEqual(['http://127.0.0.1:8790/'])
    expect(out.lines).toEqual([
      'Live page: http://127.0.0.1:8790/  (Ctrl-C stops the load, the servers and the page)\n',
      'Could not open a browser: open http://127.0.0.1:8790/ by hand.\n',
    ])
  })

  it('opens nothing with --no-open, and names each server once it is ready', () => {
    const out = collector()
    const opened: string[] = []
    const hooks = benchUiLog({...out, open: false, opener: async (url) => void opened.push(url)})
    hooks.onReady!('http://127.0.0.1:8790/')
    hooks.onTargetReady!({
      close: async () => {},
      device: 'gpu',
      executionProvider: 'cuda',
      headers: {},
      imageSizeBytes: null,
      kind: 'container',
      timeToReadyMs: 2500,
      url: 'http://127.0.0.1:4100/predict',
    })
    expect(opened).toEqual([])
    expect(out.lines[1]).toBe('Serving http://127.0.0.1:4100/predict on gpu, ready in 2.50 s\n')
  })
})
