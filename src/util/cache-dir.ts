import os from 'node:os'
import path from 'node:path'

/**
 * Where mlship keeps what it can compute again (file digests, the bundled serving app): MLSHIP_CACHE_DIR, else
 * $XDG_CACHE_HOME/mlship, else ~/.cache/mlship. Deleting it at any time is safe: the next build is slower, not wrong.
 * MLSHIP_CACHE_DIR=off keeps nothing.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.MLSHIP_CACHE_DIR?.trim()
  if (explicit === 'off') return undefined
  if (explicit) return path.resolve(explicit)
  const xdg = env.XDG_CACHE_HOME?.trim()
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'mlship')
  return path.join(os.homedir(), '.cache', 'mlship')
}
