/**
 * `npm run build` runs this after tsc: writes dist/oclif.manifest.json from the compiled commands, so the built CLI
 * (bin/run.js) answers `--version` and `--help`, and finds a command, without importing every command first.
 *
 *   tsx scripts/write-oclif-manifest.ts [DIST_DIR]
 */
import path from 'node:path'

import {MANIFEST_FILE, writeCommandManifest} from '../src/cli-root.js'

const dist = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '..', 'dist'))
const ids = await writeCommandManifest(dist)
console.error(`wrote ${path.join(dist, MANIFEST_FILE)}: ${ids.length} commands (${ids.join(', ')})`)
