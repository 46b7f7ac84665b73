/**
 * `npm run build` runs this after tsc: bundles yaml and zod into dist/vendor/ and points the compiled code at them
 * (scripts/lib/vendor-bundles.ts says why), and precompiles the Dockerfile template
 * (scripts/lib/precompile-templates.ts).
 *
 *   tsx scripts/bundle-vendor.ts [DIST_DIR]
 */
import path from 'node:path'

import {PRECOMPILED_DOCKERFILE, writePrecompiledTemplates} from './lib/precompile-templates.js'
import {bundleVendorPackages, VENDORED_PACKAGES} from './lib/vendor-bundles.js'

const root = path.join(import.meta.dirname, '..')
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'))
await bundleVendorPackages(dist, root)
console.error(`bundled ${VENDORED_PACKAGES.join(', ')} into ${path.join(dist, 'vendor')}`)
await writePrecompiledTemplates(dist)
console.error(`precompiled the Dockerfile template into ${path.join(dist, PRECOMPILED_DOCKERFILE)}`)
