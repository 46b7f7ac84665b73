import {execFileSync} from 'node:child_process'
import {mkdir, writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import path from 'node:path'

import {build} from 'esbuild'
import {describe, expect, it} from 'vitest'

import {lazyModules} from './lazy-modules.js'
import {runBundledScript} from './test-support/bundled-script.js'
import {workDirPerTest} from './test-support/work-dir.js'

const resolve = createRequire(import.meta.url).resolve

const workDir = workDirPerTest('mlship-lazy-modules-test-')

describe('the lazy modules of the bundle', () => {
  it('leave https and http2 unloaded by a fastify server and prom-client, and load them on first use', async () => {
    const result = await runBundledScript(
      workDir(),
      `import Fastify from ${JSON.stringify(resolve('fastify'))}
import {Registry, collectDefaultMetrics} from ${JSON.stringify(resolve('prom-client'))}
const loaded = (name) => process.moduleLoadList.includes('NativeModule ' + name)
const app = Fastify()
app.get('/', async () => 'ok')
// fastify checks a plugin's fastify version range with the lazy semver.
const ranged = (instance, options, done) => done()
ranged[Symbol.for('plugin-meta')] = {fastify: '>=1', name: 'ranged'}
app.register(ranged)
collectDefaultMetrics({register: new Registry()})
await app.ready()
const before = {http2: loaded('http2'), https: loaded('https')}
// The same import, used: an HTTP/2 server (fastify's http2 option) loads node:http2 then.
const h2 = Fastify({http2: true})
await h2.ready()
const mismatched = (instance, options, done) => done()
mismatched[Symbol.for('plugin-meta')] = {fastify: '<1', name: 'mismatched'}
const refused = await Fastify().register(mismatched).ready().then(() => 'loaded', (error) => error.code)
console.log(JSON.stringify({after: {http2: loaded('http2')}, answer: (await app.inject('/')).body, before, refused}))
await Promise.all([app.close(), h2.close()])
`,
    )
    expect(result).toEqual({
      after: {http2: true},
      answer: 'ok',
      before: {http2: false, https: false},
      refused: 'FST_ERR_PLUGIN_VERSION_MISMATCH',
    })
  })

  it('bundle a lazy package, and run its code on its first use, not as the importer loads', async () => {
    // Sources in src/ (the package in src/node_modules), the bundle in out/: node cannot find the package from there.
    const dir = path.join(workDir(), 'src')
    const pkg = path.join(dir, 'node_modules', 'counted')
    await mkdir(pkg, {recursive: true})
    await writeFile(path.join(pkg, 'package.json'), JSON.stringify({main: 'index.js', name: 'counted'}))
    await writeFile(
      path.join(pkg, 'index.js'),
      'globalThis.countedLoads = (globalThis.countedLoads ?? 0) + 1\n' +
        'module.exports = Object.assign((x) => x * 2, {triple: (x) => x * 3})\n',
    )
    await writeFile(
      path.join(dir, 'importer.js'),
      "const counted = require('counted')\nmodule.exports = {double: (x) => counted(x), triple: (x) => counted.triple(x)}\n",
    )
    await writeFile(
      path.join(dir, 'entry.js'),
      "const {double, triple} = require('./importer.js')\nconst before = globalThis.countedLoads ?? 0\n" +
        'const answers = {double: double(2), triple: triple(2)}\n' +
        'console.log(JSON.stringify({...answers, after: globalThis.countedLoads, before}))\n',
    )
    await build({
      bundle: true,
      entryPoints: [path.join(dir, 'entry.js')],
      logLevel: 'silent',
      outfile: path.join(workDir(), 'out', 'bundle.cjs'),
      platform: 'node',
      plugins: [lazyModules([{importer: /[\\/]importer\.js$/, modules: ['counted']}])()],
    })
    // Without NODE_PATH: the package must be in the bundle.
    const printed = execFileSync(process.execPath, [path.join(workDir(), 'out', 'bundle.cjs')], {
      cwd: workDir(),
      encoding: 'utf8',
      env: {PATH: process.env.PATH},
    })
    expect(JSON.parse(printed)).toEqual({after: 1, before: 0, double: 4, triple: 6})
  })
})
