import {EventEmitter} from 'node:events'
import {describe, expect, it} from 'vitest'

import {onInterrupt, type SignalSource} from './interrupt.js'

/** A process stand-in: signals are emitted by the test, exits are recorded instead of ending the test run. */
class FakeProcess extends EventEmitter implements SignalSource {
  readonly exits: number[] = []

  exit(code: number): void {
    this.exits.push(code)
  }

  send(signal: NodeJS.Signals): void {
    this.emit(signal, signal)
  }
}

describe('onInterrupt', () => {
  it('drains at the first Ctrl-C and exits 130 at the second', async () => {
    const source = new FakeProcess()
    const firsts: string[] = []
    const interrupt = onInterrupt({onFirst: (signal) => firsts.push(signal), source})

    expect(interrupt.signal.aborted).toBe(false)
    source.send('SIGINT')
    expect(interrupt.signal.aborted).toBe(true)
    expect(await interrupt.received).toBe('SIGINT')
    expect(firsts).toEqual(['SIGINT'])
    expect(source.exits).toEqual([])

    source.send('SIGINT')
    expect(source.exits).toEqual([130])
    expect(firsts).toEqual(['SIGINT'])
  })

  it('drains at SIGTERM too; a second SIGTERM changes nothing, a Ctrl-C then exits', async () => {
    const source = new FakeProcess()
    const interrupt = onInterrupt({source})

    source.send('SIGTERM')
    source.send('SIGTERM')
    expect(await interrupt.received).toBe('SIGTERM')
    expect(source.exits).toEqual([])
    source.send('SIGINT')
    expect(source.exits).toEqual([130])
  })

  it('lets the drain run to its end when a second Ctrl-C must not cut it short', () => {
    const source = new FakeProcess()
    const interrupt = onInterrupt({secondExits: false, source})

    source.send('SIGINT')
    source.send('SIGINT')
    expect(interrupt.signal.aborted).toBe(true)
    expect(source.exits).toEqual([])
  })

  it('listens to the signals it is given only', () => {
    const source = new FakeProcess()
    const interrupt = onInterrupt({signals: ['SIGINT'], source})

    expect(source.listenerCount('SIGTERM')).toBe(0)
    source.send('SIGTERM')
    expect(interrupt.signal.aborted).toBe(false)
  })

  it('stops listening once disposed, before or after the first signal', () => {
    const source = new FakeProcess()
    const before = onInterrupt({source})
    before.dispose()
    source.send('SIGINT')
    expect(before.signal.aborted).toBe(false)

    const after = onInterrupt({source})
    source.send('SIGINT')
    after.dispose()
    source.send('SIGINT')
    expect(source.exits).toEqual([])
    expect(source.listenerCount('SIGINT') + source.listenerCount('SIGTERM')).toBe(0)
  })
})
