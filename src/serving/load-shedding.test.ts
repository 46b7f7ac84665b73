import {describe, expect, it} from 'vitest'

import {inferenceRoute} from './load-shedding.js'

describe('inferenceRoute', () => {
  it('names the route pattern of inference requests, as fastify names it in the metrics, and nothing else', () => {
    expect(inferenceRoute('POST', '/predict')).toBe('/predict')
    expect(inferenceRoute('POST', '/predict?debug=1')).toBe('/predict')
    expect(inferenceRoute('POST', '/v2/models/iris/infer')).toBe('/v2/models/:name/infer')
    expect(inferenceRoute('POST', '/v2/models/iris/versions/1.0.0/infer')).toBe(
      '/v2/models/:name/versions/:version/infer',
    )
    for (const [method, url] of [
      ['GET', '/predict'],
      ['POST', '/predict/'],
      ['POST', '/predictions'],
      ['POST', '/v2/models/iris/ready'],
      ['POST', '/v2/models//infer'],
      ['POST', '/metrics'],
      [undefined, '/predict'],
    ] as const) {
      expect(inferenceRoute(method, url), `${method} ${url}`).toBeUndefined()
    }
  })
})
