import {describe, expect, it} from 'vitest'

import {MlshipError} from '../errors.js'
import {chooseTarget, parseBenchDevices} from './targets.js'

const base = {devices: ['cpu' as const], dir: 'examples/iris', method: 'POST'}

const usageError = (run: () => unknown): MlshipError => {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(MlshipError)
    expect(error).toMatchObject({code: 'BENCH_USAGE', exitCode: 2})
    return error as MlshipError
  }
  throw new Error('expected a usage error')
}

describe('chooseTarget', () => {
  it('loads a running server at --url, the app in this process with --local, else the model in its container', () => {
    expect(chooseTarget({...base, url: 'http://127.0.0.1:8080'}).kind).toBe('url')
    expect(chooseTarget({...base, inProcess: true}).kind).toBe('local')
    expect(chooseTarget(base).kind).toBe('container')
  })

  it('says a server at --url runs wherever it runs: no --devices gpu there', () => {
    const error = usageError(() => chooseTarget({...base, devices: ['cpu', 'gpu'], url: 'http://127.0.0.1:8080'}))
    expect(error.message).toMatch(/--devices gpu needs a server mlship starts/)
    expect(error.suggestions).toEqual(['Leave out --devices with --url.'])
  })

  it.each([
    {image: 'iris:1.0.0', url: 'http://127.0.0.1:8080'},
    {baseImage: 'node:20', inProcess: true},
  ])('keeps --image and --base-image for the container target (%j)', (options) => {
    expect(usageError(() => chooseTarget({...base, ...options})).message).toMatch(
      /--image and --base-image are for the container target/,
    )
  })
})

describe('parseBenchDevices', () => {
  it('reads cpu, gpu or both, in the order given, once each', () => {
    expect(parseBenchDevices('cpu')).toEqual(['cpu'])
    expect(parseBenchDevices(' GPU , cpu,gpu ')).toEqual(['gpu', 'cpu'])
    expect(parseBenchDevices(',')).toEqual(['cpu'])
  })

  it('refuses anything else, naming it', () => {
    expect(usageError(() => parseBenchDevices('cpu,tpu')).message).toBe(
      '--devices cpu,tpu: "tpu" is not a device (use cpu, gpu or cpu,gpu)',
    )
  })
})
