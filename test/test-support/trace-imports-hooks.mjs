/** The module.register() half of trace-imports.mjs: runs on the loader thread, so it is told which thread it traces. */
import {appendFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

let file = ''
let threadId = 0

export function initialize(data) {
  ;({file, threadId} = data)
}

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context)
  if (result.url.startsWith('file:')) {
    const importer = context.parentURL?.startsWith('file:') ? fileURLToPath(context.parentURL) : ''
    appendFileSync(file, `${threadId}\t${importer}\t${fileURLToPath(result.url)}\n`)
  }
  return result
}
