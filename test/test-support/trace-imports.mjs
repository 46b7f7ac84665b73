/**
 * `node --import ./trace-imports.mjs ...`: appends every import this process and its worker threads make to the file
 * named by MLSHIP_TRACE_IMPORTS, one line per edge: `<thread id> TAB <importer> TAB <imported>` (file paths; the
 * importer is empty for an entry point). ES modules are seen by a resolve hook (module.register), CommonJS ones by
 * Module._load: on Node 20 the require() calls of a CommonJS package never reach the ES module hooks. Built-in modules
 * are left out. Worker threads inherit --import, so they trace themselves into the same file.
 */
import {appendFileSync} from 'node:fs'
import Module, {register} from 'node:module'
import {threadId} from 'node:worker_threads'

const file = process.env.MLSHIP_TRACE_IMPORTS
if (!file) throw new Error('trace-imports.mjs: set MLSHIP_TRACE_IMPORTS to the file to append the import edges to')

register(new URL('trace-imports-hooks.mjs', import.meta.url), {data: {file, threadId}})

const load = Module._load
Module._load = function traced(request, parent, isMain) {
  const exports = load.apply(this, [request, parent, isMain])
  // Without a parent it is a CommonJS module that an ES module imported: the resolve hook has that edge already.
  if (parent?.filename && !Module.isBuiltin(request)) {
    appendFileSync(file, `${threadId}\t${parent.filename}\t${Module._resolveFilename(request, parent, isMain)}\n`)
  }
  return exports
}
