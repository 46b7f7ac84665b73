/**
 * `npm run build` runs this after tsc: bundles yaml and zod into dist/vendor/ and points the compiled code at them
 * (scripts/lib/vendor-bundles.ts says why).
 *
 *   tsx scripts/bundle-vendor.ts [DIST_DIR]
 */
import path from 'node:path'

import {bundleVendorPackages, VENDORED_PACKAGES} from './lib/vendor-bundles.js'

const root = path.join(import.meta.dirname, '..')
const dist = path.resolve(process.argv[2] ?? path.join(root, 'dist'))
await bundleVendorPackages(dist, root)
console.error(`bundled ${VENDORED_PACKAGES.join(', ')} into ${path.join(dist, 'vendor')}`)
