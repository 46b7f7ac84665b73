/**
 * yaml and zod, each bundled into one file of dist/vendor/ that the compiled code imports instead of the package
 * (issue 22). Reading model.yaml, the first thing almost every command does, imports both: as published they are 229
 * and 225 files, and Node resolves, reads and compiles each one (40 and 60 ms of CPU on the development machine); one
 * file each takes 9 and 27 ms. The packages stay dependencies: their types, and the sources under tsx and vitest.
 *
 * Only the compiled code is rewritten: every `from 'yaml'` and `import('yaml')` of dist/**\/*.js (and the same for zod)
 * becomes the relative path of the bundle, so the whole CLI shares one copy of each (yaml's `isMap` knows the nodes its
 * own parser made).
 */
import {readdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {build} from 'esbuild'

// handlebars/runtime: the precompiled Dockerfile template (scripts/lib/precompile-templates.ts) needs no compiler.
export const VENDORED_PACKAGES = ['handlebars', 'handlebars/runtime', 'yaml', 'zod'] as const

const VENDOR_DIR = 'vendor'

/** The bundles write `require` for Node's own modules (yaml's `require('process')`): ESM has none of its own. */
const REQUIRE_BANNER =
  "import {createRequire as __vendorRequire} from 'node:module'\n" + 'const require = __vendorRequire(import.meta.url)'

/** Writes dist/vendor/PACKAGE.js for each vendored package, and points every import of them in dist/ at it. */
export async function bundleVendorPackages(dist: string, resolveDir: string): Promise<void> {
  for (const pkg of VENDORED_PACKAGES) await bundlePackage(pkg, path.join(dist, VENDOR_DIR, `${pkg}.js`), resolveDir)
  const files = (await readdir(dist, {recursive: true}))
    .filter((file) => file.endsWith('.js') && !file.startsWith(`${VENDOR_DIR}/`))
    .map((file) => path.join(dist, file))
  for (const file of files) {
    const source = await readFile(file, 'utf8')
    const rewritten = rewriteVendorImports(source, (pkg) => vendorSpecifier(path.dirname(file), dist, pkg))
    if (rewritten !== source) await writeFile(file, rewritten)
  }
}

/**
 * The module specifiers of the vendored packages in compiled ESM, replaced: static imports and re-exports
 * (`from 'yaml'`), side-effect imports (`import 'yaml'`) and dynamic ones (`import('yaml')`). Subpaths not listed
 * (`zod/mini`) are left to the package.
 */
export function rewriteVendorImports(source: string, specifier: (pkg: string) => string): string {
  const names = VENDORED_PACKAGES.join('|')
  const pattern = new RegExp(String.raw`(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(${names})\2`, 'g')
  return source.replace(pattern, (_match, before: string, quote: string, pkg: string) => {
    return `${before}${quote}${specifier(pkg)}${quote}`
  })
}

function vendorSpecifier(fromDir: string, dist: string, pkg: string): string {
  const relative = path.relative(fromDir, path.join(dist, VENDOR_DIR, `${pkg}.js`))
  return relative.startsWith('.') ? relative : `./${relative}`
}

async function bundlePackage(pkg: string, outfile: string, resolveDir: string): Promise<void> {
  // Named re-exports, listed: `export * from` a CommonJS package (yaml) gives Node no names to link against.
  const module = (await import(pkg)) as Record<string, unknown>
  const names = Object.keys(module).filter(
    (name) => name !== 'default' && name !== '__esModule' && name !== 'module.exports',
  )
  const lines = [`export {${names.join(', ')}} from '${pkg}'`]
  if ('default' in module) lines.push(`export {default} from '${pkg}'`)
  await build({
    banner: {js: REQUIRE_BANNER},
    bundle: true,
    format: 'esm',
    legalComments: 'eof',
    logLevel: 'warning',
    // Whitespace and syntax only: a third less source for Node to parse (zod 759 -> 586 kB, yaml 266 -> 165 kB; 3-4 ms
    // of import, median of 8 paired runs), while names stay as the packages wrote them for stack traces.
    minifySyntax: true,
    minifyWhitespace: true,
    outfile,
    platform: 'node',
    stdin: {contents: lines.join('\n'), resolveDir, sourcefile: `vendor-${pkg}.js`},
    target: 'node20',
  })
}
