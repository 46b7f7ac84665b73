import {describe, expect, it} from 'vitest'

import {apiKeysEnv} from './serve-container.js'

describe('apiKeysEnv', () => {
  const env = {
    HOME: '/root',
    MLSHIP_API_KEYS: 'default-variable-key-0001',
    TEAM_KEYS: 'named-variable-key-0002',
    UNSET: '',
  }

  it("passes on the variable model.yaml names and MLSHIP_API_KEYS, nothing else of mlship's environment", () => {
    expect(apiKeysEnv(env, 'TEAM_KEYS')).toEqual({
      MLSHIP_API_KEYS: 'default-variable-key-0001',
      TEAM_KEYS: 'named-variable-key-0002',
    })
    expect(apiKeysEnv(env, undefined)).toEqual({MLSHIP_API_KEYS: 'default-variable-key-0001'})
  })

  it('passes on no empty or unset variable (the server would read an empty one as "no keys")', () => {
    expect(apiKeysEnv(env, 'UNSET')).toEqual({MLSHIP_API_KEYS: 'default-variable-key-0001'})
    expect(apiKeysEnv({HOME: '/root'}, 'TEAM_KEYS')).toEqual({})
  })
})
