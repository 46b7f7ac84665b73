import {describe, expect, it} from 'vitest'

import {withApiKeySecurity} from './openapi-security.js'

const document = {
  components: {schemas: {error: {type: 'object'}}},
  paths: {
    '/': {get: {responses: {'200': {description: 'OK'}}}},
    '/health': {get: {responses: {'200': {description: 'OK'}}}},
    '/predict': {parameters: [], post: {responses: {'200': {description: 'OK'}}}},
  },
}

describe('withApiKeySecurity', () => {
  it('protects the docs routes when serving.auth.docs is protected, the probes never', () => {
    const secured = withApiKeySecurity(document, {docs: 'protected', enabled: true, metrics: 'protected'}) as {
      paths: Record<string, Record<string, {security?: unknown}>>
      components: {schemas: unknown; securitySchemes: unknown}
    }
    expect(secured.paths['/']!.get!.security).toEqual([{bearer: []}, {apiKey: []}])
    expect(secured.paths['/predict']!.post!.security).toEqual([{bearer: []}, {apiKey: []}])
    expect(secured.paths['/health']!.get!.security).toBeUndefined()
    // A path item's other fields are not operations.
    expect(secured.paths['/predict']!.parameters).toEqual([])
    expect(secured.components.schemas).toEqual(document.components.schemas)
  })

  it('leaves the document as it is with auth off', () => {
    expect(withApiKeySecurity(document, {docs: 'open', enabled: false, metrics: 'protected'})).toBe(document)
  })
})
