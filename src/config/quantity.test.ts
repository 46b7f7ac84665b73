import {describe, expect, it} from 'vitest'

import {mebibytes, parseQuantity} from './quantity.js'

describe('parseQuantity', () => {
  it('reads CPU and memory quantities in base units', () => {
    expect(parseQuantity('500m')).toBe(0.5)
    expect(parseQuantity('2')).toBe(2)
    expect(parseQuantity('1.5')).toBe(1.5)
    expect(parseQuantity('512Mi')).toBe(512 * 2 ** 20)
    expect(parseQuantity('1G')).toBe(1e9)
    expect(parseQuantity('1GB')).toBeUndefined()
    expect(parseQuantity('-1')).toBeUndefined()
  })
})

describe('mebibytes', () => {
  it('rounds bytes up to a multiple of 64Mi', () => {
    expect(mebibytes(1)).toBe('64Mi')
    expect(mebibytes(300 * 2 ** 20)).toBe('320Mi')
  })
})
