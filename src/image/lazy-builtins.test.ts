import {createRequire} from 'node:module'
import {describe, expect, it} from 'vitest'

import {runBundledScript} from './test-support/bundled-script.js'
import {workDirPerTest} from './test-support/work-dir.js'

const resolve = createRequire(import.meta.url).resolve

const workDir = workDirPerTest('mlship-lazy-builtins-test-')

describe('the lazy built-in modules of the bundle', () => {
  it('leave https and http2 unloaded by a fastify server and prom-client, and load them on first use', async () => {
    const result = await runBundledScript(
      workDir(),
      `import Fastify from ${JSON.stringify(resolve('fastify'))}
import {Registry, collectDefaultMetrics} from ${JSON.stringify(resolve('prom-client'))}
const loaded = (name) => process.moduleLoadList.includes('NativeModule ' + name)
const app = Fastify()
app.get('/', async () => 'ok')
collectDefaultMetrics({register: new Registry()})
await app.ready()
const before = {http2: loaded('http2'), https: loaded('https')}
// The same import, used: an HTTP/2 server (fastify's http2 option) loads node:http2 then.
const h2 = Fastify({http2: true})
await h2.ready()
console.log(JSON.stringify({after: {http2: loaded('http2')}, answer: (await app.inject('/')).body, before}))
await Promise.all([app.close(), h2.close()])
`,
    )
    expect(result).toEqual({after: {http2: true}, answer: 'ok', before: {http2: false, https: false}})
  })
})
