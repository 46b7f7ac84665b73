import {timingSafeEqual} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {isMlshipError} from '../../errors.js'
import {ApiKeySet, compareDigests, digestOf, parseKeys} from './keys.js'

const KEY_A = 'key-a-0123456789abcdef'
const KEY_B = 'key-b-fedcba9876543210'

describe('ApiKeySet', () => {
  it('accepts each of its keys and nothing else, naming the match by digest', () => {
    const keys = new ApiKeySet([KEY_A, KEY_B])
    expect(keys.match(KEY_A)).toEqual({
      fingerprint: digestOf(KEY_A).toString('hex').slice(0, 8),
      id: digestOf(KEY_A).toString('hex'),
    })
    expect(keys.match(KEY_B)?.id).toBe(digestOf(KEY_B).toString('hex'))
    expect(keys.match(KEY_A.slice(0, -1))).toBeUndefined()
    expect(keys.match(`${KEY_A}x`)).toBeUndefined()
    expect(keys.match('')).toBeUndefined()
  })

  it('compares fixed-length digests with timingSafeEqual, against every key, whatever the length presented', () => {
    expect(compareDigests).toBe(timingSafeEqual)
    // The real comparison, watched: what it is given, and that it still decides.
    const calls: Array<[Buffer, Buffer]> = []
    const watched = (a: Buffer, b: Buffer) => {
      calls.push([a, b])
      return timingSafeEqual(a, b)
    }
    const keys = new ApiKeySet([KEY_A, KEY_B, 'key-c-00000000000000000'], watched)
    for (const presented of ['x', KEY_A, 'y'.repeat(10_000)]) {
      calls.length = 0
      // Keys of any length: timingSafeEqual throws on buffers of unequal length, digests never are.
      expect(keys.match(presented) !== undefined).toBe(presented === KEY_A)
      // The loop does not stop at the first match (KEY_A is first): as long for every key as for none.
      expect(calls).toHaveLength(3)
      for (const [a, b] of calls) {
        expect(a.length).toBe(32)
        expect(b.length).toBe(32)
        expect(a.toString('hex')).toBe(digestOf(presented).toString('hex'))
      }
    }
    expect(new ApiKeySet([KEY_A]).match(KEY_A)).toBeDefined()
  })

  it('keeps digests only: nothing it holds or shows contains a key', () => {
    const keys = new ApiKeySet([KEY_A, KEY_A, KEY_B])
    expect(keys.size).toBe(2)
    const shown = JSON.stringify({f: keys.fingerprints, i: [...keys.ids], k: keys})
    expect(shown).not.toContain(KEY_A)
    expect(shown).not.toContain(KEY_B)
  })
})

describe('parseKeys', () => {
  it('reads a file: one key per line, blank lines and # comments skipped, CRLF too', () => {
    const text = `# rotated 2024-05-01\r\n${KEY_A}\r\n\n  ${KEY_B}  \n`
    expect(parseKeys(text, {kind: 'file', name: '/keys'})).toEqual([KEY_A, KEY_B])
  })

  it('reads a variable: keys on lines or separated by commas', () => {
    expect(parseKeys(`${KEY_A},${KEY_B}`, {kind: 'env', name: 'K'})).toEqual([KEY_A, KEY_B])
    expect(parseKeys(`${KEY_A}\n${KEY_B}\n`, {kind: 'env', name: 'K'})).toEqual([KEY_A, KEY_B])
  })

  it('refuses a short or odd key by its line, and never repeats it', () => {
    const secretish = 'hunter2-short'
    for (const [text, line] of [
      [`${KEY_A}\n${secretish}\n`, 2],
      [`${KEY_A}\nkey with spaces 0123456789\n`, 2],
      [`caf\u00e9-0123456789abcdef\n`, 1],
    ] as const) {
      let caught: unknown
      try {
        parseKeys(text, {kind: 'file', name: '/run/keys'})
      } catch (error) {
        caught = error
      }
      expect(isMlshipError(caught)).toBe(true)
      const error = caught as Error & {details: Record<string, unknown>; suggestions: string[]; code: string}
      expect(error.code).toBe('API_KEY_INVALID')
      expect(error.message).toContain(`/run/keys, line ${line}`)
      expect(error.details.line).toBe(line)
      expect(JSON.stringify({d: error.details, m: error.message, s: error.suggestions})).not.toMatch(
        /hunter2|with spaces|caf/,
      )
    }
  })

  it('names a bad key of a variable by its position', () => {
    expect(() => parseKeys(`${KEY_A},short`, {kind: 'env', name: 'MLSHIP_API_KEYS'})).toThrow(/MLSHIP_API_KEYS, key 2 /)
  })
})
