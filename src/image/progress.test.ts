import {describe, expect, it} from 'vitest'

import {buildProgressRenderer} from './progress.js'

describe('buildProgressRenderer', () => {
  it('prints one line per step, marks re-used layers as cached, and hides step output unless verbose', () => {
    let out = ''
    const {finish, onProgress} = buildProgressRenderer({write: (text: string) => (out += text)})
    onProgress({fileCount: 63, sizeBytes: 47_400_000, type: 'context'})
    onProgress({index: 1, instruction: 'FROM node:20-bookworm-slim', total: 3, type: 'step'})
    onProgress({index: 2, instruction: 'COPY model/ /app/model/', total: 3, type: 'step'})
    onProgress({index: 2, type: 'cached'})
    onProgress({index: 3, instruction: 'LABEL a.b="1" c.d="2"', total: 3, type: 'step'})
    onProgress({text: 'Removing intermediate container', type: 'output'})
    finish()
    const lines = out.trimEnd().split('\n')
    expect(lines[0]).toBe('Build context: 63 files, 47.4 MB')
    expect(lines[1]).toMatch(/^ {2}\[1\/3\] FROM node:20-bookworm-slim {2}\d+\.\ds$/)
    expect(lines[2]).toBe('  [2/3] COPY model/ /app/model/  cached')
    expect(lines[3]).toMatch(/^ {2}\[3\/3\] LABEL \(2 labels/)
    expect(out).not.toContain('Removing intermediate')
  })
})
