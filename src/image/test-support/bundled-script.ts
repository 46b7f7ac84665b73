import {execFileSync} from 'node:child_process'
import {writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import path from 'node:path'

import {bundleServer} from '../bundle.js'

/** mlship's own node_modules: what a bundle leaves outside (BUNDLE_EXTERNAL) is found there, as the image's in /app. */
const NODE_MODULES = path.resolve(path.dirname(createRequire(import.meta.url).resolve('fastify')), '..')

/**
 * Bundles `source` (an ES module) in `dir` as the server's bundle is made, runs the bundle with node, and returns what
 * it printed: one JSON document.
 */
export async function runBundledScript(dir: string, source: string): Promise<unknown> {
  const entry = path.join(dir, 'entry.mjs')
  await writeFile(entry, source)
  await bundleServer({entryPoints: {main: entry}, outDir: path.join(dir, 'out')})
  const printed = execFileSync(process.execPath, [path.join(dir, 'out', 'main.js')], {
    cwd: dir,
    encoding: 'utf8',
    env: {...process.env, NODE_PATH: NODE_MODULES},
  })
  return JSON.parse(printed) as unknown
}
