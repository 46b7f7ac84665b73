import {describe, expect, it} from 'vitest'

import {allowedMethods, routeRegExp} from './allowed-methods.js'

describe('allowedMethods', () => {
  const routes = new Map<string, Set<string>>([
    ['/predict', new Set(['POST'])],
    ['/health', new Set(['GET', 'HEAD'])],
    ['/v2/models/:name/infer', new Set(['POST'])],
    ['/v2/models/:name', new Set(['HEAD', 'GET'])],
    ['/docs/swagger-ui.css', new Set(['GET', 'HEAD'])],
  ])
  const allowedOn = allowedMethods(routes)

  it('answers the sorted methods of the route a path matches', () => {
    expect(allowedOn('/predict')).toBe('POST')
    expect(allowedOn('/health')).toBe('GET, HEAD')
    expect(allowedOn('/v2/models/iris/infer')).toBe('POST')
    expect(allowedOn('/v2/models/iris')).toBe('GET, HEAD')
  })

  it('answers undefined for a path no route has', () => {
    expect(allowedOn('/nope')).toBeUndefined()
    expect(allowedOn('/predict/')).toBeUndefined()
    expect(allowedOn('/predictx')).toBeUndefined()
    expect(allowedOn('/v2/models//infer')).toBeUndefined()
    expect(allowedOn('/v2/models/a/b/infer')).toBeUndefined()
    // A dot in a pattern is a dot, not any character.
    expect(allowedOn('/docs/swagger-uixcss')).toBeUndefined()
  })

  it('reads the routes on its first call, once every route is registered', () => {
    const later = new Map<string, Set<string>>()
    const allowedLater = allowedMethods(later)
    later.set('/ready', new Set(['GET']))
    expect(allowedLater('/ready')).toBe('GET')
  })
})

describe('routeRegExp', () => {
  it('matches a trailing wildcard over the rest of the path', () => {
    expect(routeRegExp('/static/*').test('/static/a/b.js')).toBe(true)
    expect(routeRegExp('/static/*').test('/other/a')).toBe(false)
  })
})
