import {describe, expect, it} from 'vitest'

import {isLoopbackHost, newestFirst, parseRegistryFlag, registryBaseUrl, resolveRegistryTarget} from './reference.js'

describe('parseRegistryFlag', () => {
  it('splits host[:port] from a repository path that may have slashes', () => {
    expect(parseRegistryFlag('127.0.0.1:5000/iris-classifier')).toEqual({
      host: '127.0.0.1:5000',
      repository: 'iris-classifier',
    })
    expect(parseRegistryFlag('ghcr.io/acme/team/iris')).toEqual({host: 'ghcr.io', repository: 'acme/team/iris'})
    expect(parseRegistryFlag('https://ghcr.io/acme/iris/')).toEqual({host: 'ghcr.io', repository: 'acme/iris'})
  })

  it('refuses a value without a repository or with upper case, exit 2', () => {
    expect(() => parseRegistryFlag('ghcr.io')).toThrow(/host\[:port\]\/repository/)
    expect(() => parseRegistryFlag('ghcr.io/Acme/Iris')).toThrow(expect.objectContaining({exitCode: 2}))
  })
})

describe('resolveRegistryTarget', () => {
  it('prefers the flag, then model.yaml, and says how to set one when neither has it', () => {
    const config = {registry: {host: 'ghcr.io', repository: 'acme/iris'}}
    expect(resolveRegistryTarget(config, undefined)).toEqual({host: 'ghcr.io', repository: 'acme/iris'})
    expect(resolveRegistryTarget(config, 'localhost:5000/x')).toEqual({host: 'localhost:5000', repository: 'x'})
    expect(() => resolveRegistryTarget({}, undefined, '/m/model.yaml')).toThrow(/\/m\/model.yaml has no registry/)
  })
})

describe('registryBaseUrl', () => {
  it('talks plain HTTP to loopback registries only, like the Docker engine', () => {
    expect(isLoopbackHost('127.0.0.1:5000')).toBe(true)
    expect(isLoopbackHost('localhost')).toBe(true)
    expect(isLoopbackHost('127.example.com')).toBe(false)
    expect(registryBaseUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000')
    expect(registryBaseUrl('ghcr.io')).toBe('https://ghcr.io')
  })
})

describe('newestFirst', () => {
  it('orders versions as semver.org does, newest first', async () => {
    const versions = [
      '1.0.0',
      '1.10.0',
      '1.2.0',
      '1.0.0-rc.1',
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-beta.11',
      '1.0.0-beta.2',
      '0.9.9',
    ]
    const sorted = await newestFirst(versions, (version) => version)
    expect(sorted.toReversed()).toEqual([
      '0.9.9',
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-beta.2',
      '1.0.0-beta.11',
      '1.0.0-rc.1',
      '1.0.0',
      '1.2.0',
      '1.10.0',
    ])
    const entries = [{version: '1.0.0'}, {version: '1.0.0+build.1'}, {version: '1.0.1-rc.1'}]
    expect((await newestFirst(entries, (entry) => entry.version)).map((entry) => entry.version)).toEqual([
      '1.0.1-rc.1',
      '1.0.0',
      '1.0.0+build.1',
    ])
  })
})
