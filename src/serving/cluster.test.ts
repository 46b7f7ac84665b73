import {describe, expect, it} from 'vitest'

import {afterProcessExit} from './cluster.js'

describe('afterProcessExit (a forked process of a serving cluster stops)', () => {
  const crash = {code: 1, how: 'exit code 1', index: 2, wasWarm: true}

  it('replaces a warm process that crashed', () => {
    expect(afterProcessExit(crash)).toMatchObject({action: 'replace'})
    expect(afterProcessExit({...crash, code: null, how: 'signal SIGKILL'})).toMatchObject({action: 'replace'})
  })

  it('gives up when a process never got warm: a crash at start-up would loop', () => {
    const next = afterProcessExit({...crash, wasWarm: false})
    expect(next).toMatchObject({action: 'fatal'})
    expect(next.message).toContain('not replaced')
  })

  it('leaves out a process that exited 0 (told to stop): the first process still serves', () => {
    const clean = {...crash, code: 0, how: 'exit code 0'}
    expect(afterProcessExit(clean)).toEqual({
      action: 'not-replaced',
      message: 'serving process 2 stopped (exit code 0), cleanly: not replaced',
    })
  })
})
