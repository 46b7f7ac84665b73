import {execFile} from 'node:child_process'
import {copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {build} from 'esbuild'

import {writePrecompiledTemplates} from '../../scripts/lib/precompile-templates.js'
import {bundleVendorPackages} from '../../scripts/lib/vendor-bundles.js'

const repo = path.resolve(import.meta.dirname, '..', '..')

/** A built mlship in a temporary folder: package.json, bin/, dist/ with its command manifest, links to the rest. */
export interface CliCopy {
  root: string
  /** bin/run.js of the copy: what `mlship` runs once installed. */
  bin: string
  /** The command ids of its manifest. */
  commands: string[]
  /** src/x/y.ts for dist/x/y.js of the copy, bin/run.js for its bin/run.js: how a message should name the file. */
  describe(file: string): string
  remove(): Promise<void>
}

/**
 * Builds the current sources the way `npm run build` does (dist/, its vendor/ bundles, then dist/oclif.manifest.json),
 * except that esbuild transpiles each file on its own instead of tsc: a second instead of a minute, and the same
 * imports, because tsconfig's isolatedModules makes tsc refuse any file whose imports a file-by-file transpiler could
 * get wrong.
 */
export async function buildCliCopy(): Promise<CliCopy> {
  const root = await mkdtemp(path.join(tmpdir(), 'mlship-cli-copy-'))
  const dist = path.join(root, 'dist')
  try {
    const sources = (await readdir(path.join(repo, 'src'), {recursive: true}))
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts') && !file.split('/').includes('test-support'))
      .map((file) => path.join(repo, 'src', file))
    await build({
      entryPoints: sources,
      format: 'esm',
      logLevel: 'silent',
      outbase: path.join(repo, 'src'),
      outdir: dist,
      platform: 'node',
      target: 'node20',
    })
    await bundleVendorPackages(dist, repo)
    await writePrecompiledTemplates(dist)
    await mkdir(path.join(root, 'bin'))
    await copyFile(path.join(repo, 'bin', 'run.js'), path.join(root, 'bin', 'run.js'))
    await copyFile(path.join(repo, 'package.json'), path.join(root, 'package.json'))
    for (const shared of ['node_modules', 'templates']) await symlink(path.join(repo, shared), path.join(root, shared))
    const {stdout} = await promisify(execFile)(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const {writeCommandManifest} = await import(${JSON.stringify(path.join(dist, 'cli-root.js'))})
         console.log(JSON.stringify(await writeCommandManifest(${JSON.stringify(dist)})))`,
      ],
      {env: productionEnv()},
    )
    return {
      bin: path.join(root, 'bin', 'run.js'),
      commands: JSON.parse(stdout) as string[],
      describe: (file) =>
        file.startsWith(`${dist}/`)
          ? path.join('src', path.relative(dist, file)).replace(/\.js$/, '.ts')
          : file.startsWith(`${root}/`)
            ? path.relative(root, file)
            : file.replace(/^.*\/node_modules\//, 'node_modules/'),
      remove: () => rm(root, {force: true, recursive: true}),
      root,
    }
  } catch (error) {
    await rm(root, {force: true, recursive: true})
    throw error
  }
}

/** What `npm run build` builds dist/ from: a change to any of them after the build makes the build stale. */
const BUILD_INPUTS = [
  'src',
  'templates',
  'scripts/bundle-vendor.ts',
  'scripts/write-oclif-manifest.ts',
  'scripts/lib/precompile-templates.ts',
  'scripts/lib/vendor-bundles.ts',
]

/**
 * The CLI as it is installed, for the tests that run it as a process: the repository's own build (bin/run.js over
 * dist/, which `npm run build` writes and scripts/test-all.sh runs before the tests) where it is newer than every file
 * it is built from, else a copy built from the sources now (buildCliCopy, a few seconds). Either way the process runs
 * compiled JavaScript, without tsx compiling the sources at each start (bin/dev.js: a second or more of CPU each), and
 * never a build older than the code beside it.
 */
export async function builtCli(): Promise<CliCopy> {
  const manifest = path.join(repo, 'dist', 'oclif.manifest.json')
  const built = await stat(manifest).catch(() => undefined)
  if (!built || (await newestInput()) > built.mtimeMs) return buildCliCopy()
  const dist = path.join(repo, 'dist')
  const {commands} = JSON.parse(await readFile(manifest, 'utf8')) as {commands: Record<string, unknown>}
  return {
    bin: path.join(repo, 'bin', 'run.js'),
    commands: Object.keys(commands).sort(),
    describe: (file) =>
      file.startsWith(`${dist}/`)
        ? path.join('src', path.relative(dist, file)).replace(/\.js$/, '.ts')
        : file.startsWith(`${repo}/`)
          ? path.relative(repo, file)
          : file,
    remove: () => Promise.resolve(),
    root: repo,
  }
}

/** When the newest of BUILD_INPUTS last changed (milliseconds since the epoch); tests are not built. */
async function newestInput(): Promise<number> {
  let newest = 0
  for (const input of BUILD_INPUTS) {
    const top = path.join(repo, input)
    const info = await stat(top)
    const files = info.isDirectory()
      ? (await readdir(top, {recursive: true}))
          .filter((file) => !file.endsWith('.test.ts') && !file.split(path.sep).includes('test-support'))
          .map((file) => path.join(top, file))
      : [top]
    // Files only: a folder's time changes as files come and go in it, test files included.
    for (const file of files) {
      const info = await stat(file)
      if (info.isFile()) newest = Math.max(newest, info.mtimeMs)
    }
  }
  return newest
}

/** The environment a user's shell gives mlship: vitest's NODE_ENV=test would make oclif look for TypeScript sources. */
export function productionEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = {...process.env, ...extra}
  delete env.NODE_ENV
  return env
}
