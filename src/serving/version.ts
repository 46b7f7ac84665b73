import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/**
 * mlship's own version, for the v2 server metadata: from the mlship package.json above this file (src/, dist/), else
 * MLSHIP_VERSION (a bundle carries no package.json of mlship), else "unknown".
 */
export function mlshipVersion(env: NodeJS.ProcessEnv = process.env): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {name?: string; version?: string}
      if (pkg.name === 'mlship' && pkg.version) return pkg.version
    } catch {
      // no package.json here: look one folder up
    }
    dir = path.dirname(dir)
  }
  return env.MLSHIP_VERSION || 'unknown'
}
