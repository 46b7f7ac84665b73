import type {BuildOptions, Plugin} from 'esbuild'
import {createHash, randomUUID} from 'node:crypto'
import {statSync} from 'node:fs'
import {copyFile, link, mkdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {errorMessage, MlshipError} from '../errors.js'
import {findMyWaySelfCheck, SELF_CHECK_NAMESPACE, selfCheckModule} from './find-my-way-self-check.js'
import {LAZY_MODULES, LAZY_MODULES_NAMESPACE, lazyModules} from './lazy-modules.js'
import {ONNXRUNTIME_BUNDLE_KEY, onnxruntimeInBundle} from './onnxruntime-bundle.js'

export interface BundleServerOptions {
  /** Output name (without extension) -> source file, e.g. {main: '.../serving/main.ts', worker: '...'}. */
  entryPoints: Record<string, string>
  /**
   * Bundled each into one CommonJS file, `<name>.cjs`, with everything it imports (no chunks): a file that
   * serving/code-cache.ts compiles with V8's code cache.
   */
  commonJsEntryPoints?: Record<string, string>
  outDir: string
  /** Files copied next to the bundle as they are (e.g. the healthcheck script, static assets): name -> source. */
  extraFiles?: Record<string, string>
  /**
   * Keep the bundle here (a folder of the cache, see src/util/cache-dir.ts) and use it again while none of the files
   * it was bundled from changed: bundling takes most of a rebuild's second otherwise.
   */
  cacheDir?: string
  /** Time as an input: a source file modified within 2 s of now is not trusted to the cache (default Date.now). */
  now?: () => number
  /**
   * Hard-link a cached bundle and the extra files into outDir rather than copy them (for a temporary build context):
   * no copying, and the files keep the inode whose digest src/util/file-digests.ts remembers, so a rebuild does not
   * hash them again. Where links cannot be made, they are copied.
   */
  link?: boolean
}

/**
 * Packages that stay outside the bundle: native code is loaded from node_modules in the image (onnxruntime's
 * JavaScript is bundled all the same where mlship's own loader requires it: onnxruntime-bundle.ts); fastify's schema
 * compilers are never loaded by the serving app (serving/app.ts gives fastify its own, as no route has a schema), and
 * are not in the image at all.
 */
export const BUNDLE_EXTERNAL = [
  'onnxruntime-node',
  'onnxruntime-common',
  '*.node',
  '@fastify/ajv-compiler',
  '@fastify/fast-json-stringify-compiler',
]

const BUNDLE_OPTIONS = {
  // CommonJS dependencies call require(): give the ES module bundle one.
  banner: {
    js: "import {createRequire as __mlshipCreateRequire} from 'node:module';const require=__mlshipCreateRequire(import.meta.url);",
  },
  bundle: true,
  // The code the entry points share (most of it) in chunks beside them, and what only a dynamic import() loads
  // (the whole HTTP server, in the cluster layout's primary) out of the entry that may not need it: each process
  // compiles only the modules it loads, a cold start's largest cost (issue 19). Beside the entries, not in a folder:
  // code that finds a file from its import.meta.url (the worker scripts, swagger-ui/) must find it there from a chunk.
  chunkNames: 'chunk-[hash]',
  entryNames: '[name]',
  external: BUNDLE_EXTERNAL,
  format: 'esm',
  keepNames: true,
  legalComments: 'none',
  logLevel: 'silent',
  minify: true,
  platform: 'node',
  splitting: true,
  target: 'node20',
} satisfies BuildOptions

/**
 * A CommonJS file of its own (no chunks: vm.Script compiles one file). `import.meta.url` is the file's own URL, as in
 * the ES module bundle, so that it finds its sibling files (the worker scripts) the same way.
 */
const COMMONJS_OPTIONS = {
  ...BUNDLE_OPTIONS,
  banner: {js: "const __mlshipImportMetaUrl=require('node:url').pathToFileURL(__filename).href;"},
  define: {'import.meta.url': '__mlshipImportMetaUrl'},
  format: 'cjs',
  outExtension: {'.js': '.cjs'},
  splitting: false,
} satisfies BuildOptions

/**
 * Bundles the serving app into a few ES module files with esbuild, so that the image carries no node_modules tree
 * beyond onnxruntime-node. The output is deterministic: the same sources give the same bytes, and the image layer
 * that holds it is re-used by the next build.
 */
export async function bundleServer(options: BundleServerOptions): Promise<string[]> {
  await mkdir(options.outDir, {recursive: true})
  const esbuild = await import('esbuild')
  const cache =
    options.cacheDir === undefined
      ? undefined
      : {
          dir: entryDir(options.cacheDir, options, esbuild.version),
          now: options.now ?? Date.now,
        }
  const cached = cache && (await cachedBundle(cache.dir))
  const link = Boolean(options.link)
  let outputs = cached?.outputs
  if (!cached || !(await copyCached(cached.dir, cached.outputs, options.outDir, link))) {
    outputs = await runEsbuild(esbuild.build, options, cache)
  }
  await writeFile(path.join(options.outDir, 'package.json'), `${JSON.stringify({type: 'module'})}\n`)
  const names = [...outputs!, 'package.json']
  for (const [name, from] of Object.entries(options.extraFiles ?? {})) {
    await mkdir(path.dirname(path.join(options.outDir, name)), {recursive: true})
    await placeFile(from, path.join(options.outDir, name), link)
    names.push(name)
  }
  return names
}

/** One source file of a bundle, as it was when bundled. */
interface BundleInput {
  file: string
  size: number
  mtimeNs: string
}

/** What a cache entry records: the bundle's source files, and its output files (the entries and their chunks). */
interface CachedBundle {
  inputs: BundleInput[]
  outputs: string[]
}

const INPUTS_FILE = 'inputs.json'
const RACY_MS = 2000

/** An import of a one-file bundle of dist/vendor/ (scripts/lib/vendor-bundles.ts): `../vendor/zod.js`. */
const VENDOR_BUNDLE = /(?:^|\/)vendor\/(handlebars\/runtime|handlebars|yaml|zod)\.js$/

/**
 * Compiled mlship (dist/) imports yaml, zod and handlebars from one-file bundles of dist/vendor/, made for the CLI's
 * start: esbuild cannot leave out what the server does not use of such a file (zod's is 586 KB). The server bundle
 * takes the packages themselves, as it does from the sources, so an image is the same whichever way mlship runs.
 */
function packagesOverVendorBundles(): Plugin {
  return {
    name: 'packages-over-vendor-bundles',
    setup(build) {
      build.onResolve({filter: VENDOR_BUNDLE}, (args) => {
        const pkg = VENDOR_BUNDLE.exec(args.path)![1]!
        return build.resolve(pkg, {kind: args.kind, resolveDir: args.resolveDir})
      })
    },
  }
}

/**
 * The plugins every bundle is made with, and what each one adds to the cache key (a bundle made with other modules
 * than these is not used again: see entryDir); their modules are no files, and left out of the bundle's inputs.
 */
const BUNDLE_PLUGINS: {key: string; namespace?: string; plugin: () => Plugin}[] = [
  {key: selfCheckModule(), namespace: SELF_CHECK_NAMESPACE, plugin: findMyWaySelfCheck},
  {key: VENDOR_BUNDLE.source, plugin: packagesOverVendorBundles},
  {
    key: JSON.stringify(LAZY_MODULES.map(({importer, modules}) => [importer.source, modules])),
    namespace: LAZY_MODULES_NAMESPACE,
    plugin: lazyModules(),
  },
  {key: ONNXRUNTIME_BUNDLE_KEY, plugin: onnxruntimeInBundle},
]

/** The cache entry of these entry points (esbuild's version, options and plugins included in its name). */
function entryDir(
  cacheDir: string,
  {entryPoints, commonJsEntryPoints = {}}: Pick<BundleServerOptions, 'entryPoints' | 'commonJsEntryPoints'>,
  esbuildVersion: string,
): string {
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        commonJsEntryPoints,
        commonJsOptions: COMMONJS_OPTIONS,
        entryPoints,
        esbuildVersion,
        options: BUNDLE_OPTIONS,
        plugins: BUNDLE_PLUGINS.map(({key}) => key),
      }),
    )
    .digest('hex')
    .slice(0, 32)
  return path.join(cacheDir, 'server-bundle', key)
}

/** The folder and output files of a cached bundle whose every source file is unchanged, or undefined. */
async function cachedBundle(dir: string): Promise<{dir: string; outputs: string[]} | undefined> {
  try {
    const {inputs, outputs} = JSON.parse(await readFile(path.join(dir, INPUTS_FILE), 'utf8')) as CachedBundle
    // Some 700 files: one synchronous stat each takes microseconds, an awaited one a trip through libuv's thread pool
    // (about a tenth of a second in all on a busy machine).
    for (const input of inputs) {
      const info = statSync(input.file, {bigint: true})
      if (info.size !== BigInt(input.size) || info.mtimeNs.toString() !== input.mtimeNs) return undefined
    }
    return {dir, outputs}
  } catch {
    return undefined
  }
}

async function placeFile(from: string, to: string, preferLink: boolean): Promise<void> {
  if (preferLink) {
    try {
      await link(from, to)
      return
    } catch {
      // Another file system, or links not allowed: copy instead.
    }
  }
  await copyFile(from, to)
}

/** False when the entry went away meanwhile (a concurrent build replaced it): bundle then, as without a cache. */
async function copyCached(dir: string, names: string[], outDir: string, link: boolean): Promise<boolean> {
  try {
    for (const name of names) await placeFile(path.join(dir, name), path.join(outDir, name), link)
    return true
  } catch {
    return false
  }
}

async function runEsbuild(
  esbuild: typeof import('esbuild').build,
  {
    entryPoints,
    commonJsEntryPoints = {},
    outDir,
  }: Pick<BundleServerOptions, 'entryPoints' | 'commonJsEntryPoints' | 'outDir'>,
  cache: {dir: string; now: () => number} | undefined,
): Promise<string[]> {
  const workingDir = process.cwd()
  const inputs = new Set<string>()
  const outputs: string[] = []
  const generated = BUNDLE_PLUGINS.flatMap(({namespace}) => (namespace ? [`${namespace}:`] : []))
  const run = async (options: BuildOptions, points: Record<string, string>) => {
    if (Object.keys(points).length === 0) return
    const result = await esbuild({
      ...options,
      absWorkingDir: workingDir,
      entryPoints: points,
      metafile: true,
      outdir: outDir,
      plugins: BUNDLE_PLUGINS.map(({plugin}) => plugin()),
      write: true,
    })
    for (const input of Object.keys(result.metafile.inputs)) {
      if (!generated.some((ns) => input.startsWith(ns))) inputs.add(input)
    }
    for (const file of Object.keys(result.metafile.outputs))
      outputs.push(path.relative(outDir, path.resolve(workingDir, file)))
  }
  try {
    await run(BUNDLE_OPTIONS, entryPoints)
    await run(COMMONJS_OPTIONS, commonJsEntryPoints)
  } catch (error) {
    throw new MlshipError(`Bundling the serving app failed: ${errorMessage(error)}`, {
      cause: error,
      code: 'BUNDLE_FAILED',
      suggestions: [
        'This is a bug in mlship (its serving app does not bundle). Run again with DEBUG=mlship:* and report it.',
      ],
    })
  }
  if (cache) await storeBundle(cache, outputs, outDir, {inputs: [...inputs], workingDir})
  return outputs
}

/**
 * Keeps a copy of the bundle with the size and modification time of every file it was made from. Written into a
 * temporary folder and renamed into place, so that a concurrent build sees a whole entry or none; a cache that
 * cannot be written is no error.
 */
async function storeBundle(
  {dir, now}: {dir: string; now: () => number},
  names: string[],
  outDir: string,
  metafile: {inputs: string[]; workingDir: string},
): Promise<void> {
  const temporary = `${dir}.${process.pid}.${randomUUID()}`
  try {
    const inputs: BundleInput[] = []
    for (const relative of metafile.inputs) {
      const file = path.resolve(metafile.workingDir, relative)
      const info = await stat(file, {bigint: true})
      // A file changed just now could change again within the same mtime tick, unseen: keep nothing this time.
      if (now() - Number(info.mtimeMs) < RACY_MS) return
      inputs.push({file, mtimeNs: info.mtimeNs.toString(), size: Number(info.size)})
    }
    await mkdir(temporary, {recursive: true})
    for (const name of names) await copyFile(path.join(outDir, name), path.join(temporary, name))
    const entry: CachedBundle = {inputs, outputs: names}
    await writeFile(path.join(temporary, INPUTS_FILE), JSON.stringify(entry))
    await rm(dir, {force: true, recursive: true})
    await rename(temporary, dir)
  } catch {
    await rm(temporary, {force: true, recursive: true}).catch(() => undefined)
  }
}
