import {describe, expect, it} from 'vitest'

import {scriptArgs} from './script-args.js'

describe('scriptArgs', () => {
  it('takes a flag given, else the --quick or the full default', () => {
    const quick = scriptArgs(['--quick', '--seconds', '2', '--json', 'out.json'])
    expect([quick.quick, quick.number('--seconds', 4, 10), quick.number('--rounds', 1, 3)]).toEqual([true, 2, 1])
    expect(quick.flag('--json')).toBe('out.json')
    const full = scriptArgs(['--clients', '16'])
    expect([full.quick, full.number('--rounds', 1, 3), full.number('--clients', 8)]).toEqual([false, 3, 16])
    expect(full.flag('--json')).toBeUndefined()
  })
})
