import {describe, expect, it} from 'vitest'

import type {ServedContainer} from './serve-container.js'
import {containerBuildLine, containerReadyText, containerStoppedLine, parseGpus} from './serve-report.js'

const served: ServedContainer = {
  container: {
    hostIp: '127.0.0.1',
    hostPort: 49_153,
    id: '0123456789abcdef0123',
    image: 'iris-classifier:1.0.0',
    name: 'mlship-iris',
    url: 'http://127.0.0.1:49153',
  },
  image: 'iris-classifier:1.0.0',
  readyMs: 1260,
}

describe('parseGpus', () => {
  it('takes "all" or a positive count, and refuses anything else as a usage error (exit 2)', () => {
    expect(parseGpus(undefined)).toBeUndefined()
    expect(parseGpus('all')).toBe('all')
    expect(parseGpus('2')).toBe(2)
    for (const wrong of ['0', '-1', '1.5', 'two']) {
      expect(() => parseGpus(wrong)).toThrow(
        expect.objectContaining({
          code: 'FLAG_INVALID',
          exitCode: 2,
          message: `--gpus ${wrong}: expected "all" or a number of GPUs`,
        }),
      )
    }
  })
})

describe('container serve text', () => {
  it('says where the container serves, and what to try in the foreground or how to stop it when detached', () => {
    expect(containerReadyText(served, false)).toBe(
      'Serving iris-classifier:1.0.0 at http://127.0.0.1:49153  ' +
        '(container mlship-iris, 0123456789ab; ready in 1.3 s)\n' +
        'Try:  curl -s http://127.0.0.1:49153/health\nAPI page: http://127.0.0.1:49153/docs\nPress Ctrl-C to stop.',
    )
    expect(containerReadyText(served, true)).toContain('\nDetached. Stop it with: docker stop mlship-iris')
  })

  it('says what the build did only when serve built the image', () => {
    expect(containerBuildLine(served)).toBeUndefined()
    const build = {buildSeconds: 12.34, upToDate: false} as ServedContainer['build']
    expect(containerBuildLine({...served, build})).toBe('Built in 12.3 s: iris-classifier:1.0.0')
  })

  it('says who stopped a foreground container', () => {
    const result = {container: {id: 'x', name: 'mlship-iris'}, detached: false, image: '', mode: 'container' as const}
    expect(containerStoppedLine({...result, readyMs: 1, stopMs: 850, stoppedBy: 'SIGINT', url: ''})).toBe(
      'Container mlship-iris stopped in 0.8 s and was removed.',
    )
    expect(containerStoppedLine({...result, readyMs: 1, stoppedBy: 'external', url: ''})).toBe(
      'Container mlship-iris was stopped from outside and was removed.',
    )
  })
})
