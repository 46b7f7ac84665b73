import pino from 'pino'
import {describe, expect, it, vi} from 'vitest'

import {LazyRequestLogger} from './request-logger.js'

function serverLogger(level = 'info') {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino(
    {base: {process: 1}, level, timestamp: false},
    {write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>)},
  )
  return {lines, logger}
}

describe('LazyRequestLogger', () => {
  it("writes the child's lines: the request id bound, the server logger's bindings and level kept", () => {
    const {lines, logger} = serverLogger()
    const log = new LazyRequestLogger(logger, {reqId: 'r-1'}, {})
    log.info({status: 200}, 'request')
    log.debug({status: 404}, 'no such route')
    log.warn('request %s', 'refused')
    log.error(new Error('boom'), 'unexpected failure')
    expect(lines).toEqual([
      {level: 30, msg: 'request', process: 1, reqId: 'r-1', status: 200},
      {level: 40, msg: 'request refused', process: 1, reqId: 'r-1'},
      expect.objectContaining({err: expect.objectContaining({message: 'boom'}), level: 50, reqId: 'r-1'}),
    ])
  })

  it('makes the child on the first line only, not for a request that logs nothing', () => {
    const {logger} = serverLogger()
    const child = vi.spyOn(logger, 'child')
    const log = new LazyRequestLogger(logger, {reqId: 'r-2'}, {})
    expect(log.level).toBe('info')
    expect(child).not.toHaveBeenCalled()
    log.info('one')
    log.info('two')
    expect(child).toHaveBeenCalledTimes(1)
  })

  it("takes a route's own level (fastify's logLevel), and a level set on it stays its own", () => {
    const {lines, logger} = serverLogger()
    const quiet = new LazyRequestLogger(logger, {reqId: 'r-3'}, {level: 'warn'})
    expect(quiet.level).toBe('warn')
    quiet.info('not written')
    const chatty = new LazyRequestLogger(logger, {reqId: 'r-4'}, {})
    chatty.level = 'debug'
    chatty.debug('written')
    logger.debug('the server logger stays at info')
    expect(lines).toEqual([{level: 20, msg: 'written', process: 1, reqId: 'r-4'}])
    expect(logger.level).toBe('info')
  })

  it('has children with both bindings', () => {
    const {lines, logger} = serverLogger()
    new LazyRequestLogger(logger, {reqId: 'r-5'}, {}).child({plugin: 'x'}).info('hello')
    expect(lines).toEqual([{level: 30, msg: 'hello', plugin: 'x', process: 1, reqId: 'r-5'}])
  })
})
