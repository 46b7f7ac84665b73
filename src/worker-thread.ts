import {createRequire} from 'node:module'
import {Worker, type WorkerOptions} from 'node:worker_threads'

/**
 * Starts a worker thread on a module of this package (the inference workers, the load generator). Built (dist/*.js,
 * or the server bundle) it is a plain Worker; run from the TypeScript sources (bin/dev.js, tsx, vitest) the thread
 * first registers tsx's loader, because loader hooks of the parent thread do not reach worker threads on Node 20.
 */
export function startModuleWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, options)
  const tsxApi = createRequire(import.meta.url).resolve('tsx/esm/api')
  const bootstrap = `require(${JSON.stringify(tsxApi)}).register(); import(${JSON.stringify(moduleUrl.href)})`
  return new Worker(bootstrap, {...options, eval: true})
}

/** The URL of a sibling module, with the extension this file itself has (.ts from sources, .js when built). */
export function siblingModule(base: string, name: string): URL {
  const extension = base.endsWith('.ts') ? '.ts' : '.js'
  return new URL(`./${name}${extension}`, base)
}
