import {describe, expect, it} from 'vitest'

import {formatBytes} from './bytes.js'

describe('formatBytes', () => {
  it('counts in powers of 1000 as docker images does, three significant digits below 10 and one decimal above', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(999)).toBe('999 B')
    expect(formatBytes(1536)).toBe('1.54 kB')
    expect(formatBytes(47_400_000)).toBe('47.4 MB')
    expect(formatBytes(999_949)).toBe('999.9 kB')
    expect(formatBytes(3.2e9)).toBe('3.20 GB')
    expect(formatBytes(5e15)).toBe('5000.0 TB')
  })
})
