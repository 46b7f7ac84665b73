import {createRequire} from 'node:module'
import {pathToFileURL} from 'node:url'
import {Worker} from 'node:worker_threads'

/**
 * Starts a worker thread on a module of this package. Built (dist/*.js) it is a plain Worker; run from the TypeScript
 * sources (bin/dev.js, vitest) the worker loads the module through tsx, which the parent's loader does not reach.
 */
export function startModuleWorker(moduleUrl: URL): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl)
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href
  const code = `import(${JSON.stringify(tsxApi)}).then((tsx) => tsx.tsImport(${JSON.stringify(moduleUrl.href)}, ${JSON.stringify(moduleUrl.href)}))`
  return new Worker(code, {eval: true})
}

/** The URL of a sibling module, with the extension this file itself has (.ts from sources, .js when built). */
export function siblingModule(base: string, name: string): URL {
  const extension = base.endsWith('.ts') ? '.ts' : '.js'
  return new URL(`./${name}${extension}`, base)
}
