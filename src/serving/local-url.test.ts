import {describe, expect, it} from 'vitest'

import {localUrl} from './local-url.js'

describe('localUrl', () => {
  it('reaches a wildcard address on 127.0.0.1 and brackets an IPv6 address', () => {
    expect(localUrl('0.0.0.0', 8080)).toBe('http://127.0.0.1:8080')
    expect(localUrl('::', 8080)).toBe('http://127.0.0.1:8080')
    expect(localUrl('::1', 9000)).toBe('http://[::1]:9000')
    expect(localUrl('10.0.0.5', 80)).toBe('http://10.0.0.5:80')
  })
})
