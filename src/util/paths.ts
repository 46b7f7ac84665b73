import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** The root of the installed mlship package (where templates/, examples/ and schema/ live). */
export function packageRoot(): string {
  // This file is src/util/paths.ts or dist/util/paths.js: the root is two folders up either way.
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'templates'))) return dir
    dir = path.dirname(dir)
  }
  throw new Error('cannot find the mlship package root (templates/ is missing from the installation)')
}

export function templatesDir(): string {
  return path.join(packageRoot(), 'templates')
}

export function examplesDir(): string {
  return path.join(packageRoot(), 'examples')
}
