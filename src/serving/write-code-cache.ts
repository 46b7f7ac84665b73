/**
 * Run by the image's build (a RUN step of templates/image/Dockerfile.hbs, with the image's own node): writes V8's code
 * cache of the bundle's server-code.cjs beside it (code-cache.ts). It first rehearses a process's start and first
 * answers on the example model beside it (rehearsal/, the iris example), so that the cache holds what a process
 * compiles; where that fails, it caches every function instead. Then it checks in a fresh node process, started as the
 * server's processes are, that V8 takes the cache. A cache it refuses is removed (the processes then compile as
 * without one) and the build says so; any other failure fails the build, with the reason.
 *
 *   node /app/server/write-code-cache.js
 */
import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {errorMessage} from '../errors.js'
import {checkCodeCache, removeCodeCache, writeCodeCache, writeRehearsedCodeCache} from './code-cache.js'

const self = fileURLToPath(import.meta.url)
const target = fileURLToPath(new URL('./server-code.cjs', import.meta.url))
const rehearsal = fileURLToPath(new URL('./rehearsal/', import.meta.url))

if (process.argv[2] === '--check') {
  process.stdout.write(checkCodeCache(target))
} else {
  let bytes: number
  let how: string
  try {
    bytes = await writeRehearsedCodeCache(target, async (exports) => {
      await (exports.rehearse as (modelDir: string) => Promise<void>)(rehearsal)
    })
    how = 'rehearsed'
  } catch (error) {
    process.stdout.write(
      `mlship: the rehearsal for the code cache failed (${errorMessage(error)}): caching every function\n`,
    )
    bytes = writeCodeCache(target)
    how = 'every function'
  }
  const check = spawnSync(process.execPath, [self, '--check'], {encoding: 'utf8'})
  if (check.status === 0 && check.stdout === 'accepted') {
    process.stdout.write(
      `mlship: V8 code cache for the server processes (${how}), ${bytes} bytes, node ${process.version}\n`,
    )
  } else {
    removeCodeCache(target)
    process.stdout.write(
      `mlship: node ${process.version} refused its own code cache (${check.stdout || check.stderr || `exit ${check.status}`}): ` +
        'the server processes compile their code as they start\n',
    )
  }
  // The rehearsal's server is closed; what it leaves (onnxruntime's threads, timers) need not hold the build.
  process.exit(0)
}
