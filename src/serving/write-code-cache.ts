/**
 * Run by the image's build (a RUN step of templates/image/Dockerfile.hbs, with the image's own node): writes V8's code
 * cache of the bundle's cluster-child-code.cjs beside it (code-cache.ts), then checks in a fresh node process, started
 * as the HTTP processes are, that V8 takes it. A cache it refuses is removed (the processes then compile as without
 * one) and the build says so; any other failure fails the build, with the reason.
 *
 *   node /app/server/write-code-cache.js
 */
import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {checkCodeCache, removeCodeCache, writeCodeCache} from './code-cache.js'

const self = fileURLToPath(import.meta.url)
const target = fileURLToPath(new URL('./cluster-child-code.cjs', import.meta.url))

if (process.argv[2] === '--check') {
  process.stdout.write(checkCodeCache(target))
} else {
  const bytes = writeCodeCache(target)
  // The processes start with no V8 flags of their own (cluster.ts): NODE_OPTIONS is theirs to set at run time.
  const check = spawnSync(process.execPath, [self, '--check'], {
    encoding: 'utf8',
    env: {...process.env, NODE_OPTIONS: ''},
  })
  if (check.status === 0 && check.stdout === 'accepted') {
    process.stdout.write(`mlship: V8 code cache for the HTTP processes, ${bytes} bytes (node ${process.version})\n`)
  } else {
    removeCodeCache(target)
    process.stdout.write(
      `mlship: node ${process.version} refused its own code cache (${check.stdout || check.stderr || `exit ${check.status}`}): ` +
        'the HTTP processes compile their code as they start\n',
    )
  }
}
