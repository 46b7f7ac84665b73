import {describe, expect, it} from 'vitest'

import {imageReferenceName, parseImageReference} from './image-reference.js'

const DIGEST = `sha256:${'a'.repeat(64)}`

describe('parseImageReference', () => {
  it.each([
    ['node:20-bookworm-slim', {repository: 'node', tag: '20-bookworm-slim'}],
    ['team/iris', {repository: 'team/iris'}],
    ['127.0.0.1:5000/team/iris:2.0.0', {registry: '127.0.0.1:5000', repository: 'team/iris', tag: '2.0.0'}],
    ['registry:5000/base:1.2', {registry: 'registry:5000', repository: 'base', tag: '1.2'}],
    ['ghcr.io/acme/iris', {registry: 'ghcr.io', repository: 'acme/iris'}],
    ['localhost/iris:1.0.0', {registry: 'localhost', repository: 'iris', tag: '1.0.0'}],
    [`ghcr.io/acme/iris@${DIGEST}`, {digest: DIGEST, registry: 'ghcr.io', repository: 'acme/iris'}],
    [`iris:1.0.0@${DIGEST}`, {digest: DIGEST, repository: 'iris', tag: '1.0.0'}],
  ])('%s', (value, expected) => {
    expect(parseImageReference(value)).toEqual(expected)
  })

  it.each(['', 'Iris:1.0.0', 'iris:', 'iris:-1', 'iris@sha256:abc', 'a//b', '../../x', `x:${'t'.repeat(129)}`])(
    'refuses %j',
    (value) => {
      expect(parseImageReference(value)).toBeUndefined()
    },
  )

  it('names the image without its tag or digest, registry included', () => {
    expect(imageReferenceName(parseImageReference(`127.0.0.1:5000/iris:1.0.0@${DIGEST}`)!)).toBe('127.0.0.1:5000/iris')
  })
})
