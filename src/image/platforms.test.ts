import {describe, expect, it} from 'vitest'

import {baseImageFor, parseBaseImages, parsePlatforms, platformTag} from './platforms.js'

describe('parsePlatforms', () => {
  it('reads one platform or several, in order, each once', () => {
    expect(parsePlatforms('linux/arm64')).toEqual(['linux/arm64'])
    expect(parsePlatforms('linux/amd64, linux/arm64,linux/amd64')).toEqual(['linux/amd64', 'linux/arm64'])
  })

  it('refuses an unknown or empty platform with the known ones (exit 2)', () => {
    expect(() => parsePlatforms('linux/amd64,linux/riscv64')).toThrow(
      expect.objectContaining({code: 'PLATFORM_INVALID', exitCode: 2, message: expect.stringContaining('riscv64')}),
    )
    expect(() => parsePlatforms(',')).toThrow(expect.objectContaining({code: 'PLATFORM_INVALID'}))
  })
})

describe('parseBaseImages', () => {
  it('takes IMAGE for every platform and PLATFORM=IMAGE for one', () => {
    const images = parseBaseImages(['node:20-bookworm-slim', 'linux/arm64=registry:5000/node:20-arm64'])
    expect(baseImageFor(images, 'linux/amd64')).toBe('node:20-bookworm-slim')
    expect(baseImageFor(images, 'linux/arm64')).toBe('registry:5000/node:20-arm64')
    expect(baseImageFor(parseBaseImages(undefined), 'linux/arm64')).toBeUndefined()
    expect(() => parseBaseImages(['linux/s390x=x'])).toThrow(expect.objectContaining({code: 'PLATFORM_INVALID'}))
    expect(() => parseBaseImages(['a', 'b'])).toThrow(expect.objectContaining({code: 'BASE_IMAGE_TWICE', exitCode: 2}))
  })
})

describe('platformTag', () => {
  it('puts the architecture at the end of the tag', () => {
    expect(platformTag('127.0.0.1:5000/team/iris:1.0.0', 'linux/arm64')).toBe('127.0.0.1:5000/team/iris:1.0.0-arm64')
    expect(platformTag('iris:latest', 'linux/amd64')).toBe('iris:latest-amd64')
  })
})
