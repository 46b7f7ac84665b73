import {describe, expect, it} from 'vitest'

import {servingSchema} from '../config/schema.js'
import {resolveSettings} from './settings.js'

describe('the request log budget', () => {
  const resolve = (yaml: object, env: NodeJS.ProcessEnv, overrides = {}) =>
    resolveSettings(servingSchema.parse(yaml), overrides, env).requestLogPerSecond

  it('is 200 lines a second by default, model.yaml sets it, LOG_REQUESTS_PER_SECOND overrides it', () => {
    expect(resolve({}, {})).toBe(200)
    expect(resolve({request_log_per_second: 50}, {})).toBe(50)
    expect(resolve({request_log_per_second: 'all'}, {})).toBe('all')
    expect(resolve({request_log_per_second: 50}, {LOG_REQUESTS_PER_SECOND: ' ALL '})).toBe('all')
    expect(resolve({request_log_per_second: 'all'}, {LOG_REQUESTS_PER_SECOND: '1000'})).toBe(1000)
    expect(resolve({}, {LOG_REQUESTS_PER_SECOND: '1000'}, {requestLogPerSecond: 3})).toBe(3)
  })

  it('refuses a LOG_REQUESTS_PER_SECOND that is neither a positive whole number nor "all", and says what to set', () => {
    for (const value of ['0', '-5', '2.5', 'many']) {
      expect(() => resolve({}, {LOG_REQUESTS_PER_SECOND: value})).toThrow(
        expect.objectContaining({code: 'LOG_REQUESTS_PER_SECOND_INVALID', exitCode: 2}),
      )
    }
    expect(() => servingSchema.parse({request_log_per_second: 0})).toThrow()
  })
})

describe('the inference workers', () => {
  it('are one per CPU the caller says the process may use, but one, when serving.workers is auto', () => {
    const auto = servingSchema.parse({})
    expect(resolveSettings(auto, {}, {}, 4)).toMatchObject({cpus: 4, workers: 3})
    expect(resolveSettings(auto, {}, {}, 1)).toMatchObject({cpus: 1, workers: 1})
    expect(resolveSettings(servingSchema.parse({workers: 2}), {}, {}, 8)).toMatchObject({cpus: 8, workers: 2})
    expect(resolveSettings(auto, {workers: 5}, {}, 8).workers).toBe(5)
  })
})
