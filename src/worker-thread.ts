import {existsSync, mkdirSync, renameSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {Worker, type WorkerOptions} from 'node:worker_threads'

/**
 * Starts a worker thread on a module of this package (the inference workers, the load generator). Built (dist/*.js,
 * or the server bundle) it is a plain Worker; run from the TypeScript sources (bin/dev.js, tsx, vitest) the module is
 * first bundled into JavaScript (see workerModuleFromSource), because loader hooks of the parent thread do not reach
 * worker threads on Node 20.
 */
export function startModuleWorker(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith('.ts')) return new Worker(moduleUrl, options)
  // The bundle is JavaScript: a TypeScript loader the process was started with (node --import tsx), which workers
  // inherit, would only start a loader thread per worker for nothing.
  const kept = withoutTypeScriptLoaders(process.execArgv)
  const execArgv = options.execArgv ?? (kept.length < process.execArgv.length ? kept : undefined)
  return new Worker(workerModuleFromSource(moduleUrl), {...options, ...(execArgv ? {execArgv} : {})})
}

const LOADER_FLAGS = new Set(['--import', '--loader', '--experimental-loader', '--require', '-r'])

/** The flags without those that load tsx (`--import tsx`, `--import=tsx`, `--loader .../tsx/...`). */
export function withoutTypeScriptLoaders(execArgv: readonly string[]): string[] {
  const kept: string[] = []
  for (let index = 0; index < execArgv.length; index++) {
    const flag = execArgv[index]!
    const [name, inline] = flag.split(/=(.*)/s, 2)
    if (LOADER_FLAGS.has(name!)) {
      const value = inline ?? execArgv[index + 1] ?? ''
      if (inline === undefined) index++
      if (/(^|[/\\])tsx([/\\]|$)/.test(value)) continue
      kept.push(flag)
      if (inline === undefined && index < execArgv.length) kept.push(execArgv[index]!)
      continue
    }
    kept.push(flag)
  }
  return kept
}

/**
 * The worker's TypeScript and the package's own modules it imports, bundled by esbuild into one ES module under the
 * project's node_modules/.cache (so that its packages resolve as they do from the sources), named by its contents:
 * a changed source makes a new file, unchanged ones are shared by every start and every process. Registering tsx in
 * each worker instead starts a loader thread per worker and compiles the whole graph again, about half a second of
 * CPU per worker start, which the tests paid on every server they started.
 */
function workerModuleFromSource(moduleUrl: URL): URL {
  const entry = fileURLToPath(moduleUrl)
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild')
  const {outputFiles} = esbuild.buildSync({
    bundle: true,
    entryPoints: [entry],
    format: 'esm',
    logLevel: 'silent',
    packages: 'external',
    platform: 'node',
    sourcemap: 'inline',
    target: 'node20',
    write: false,
  })
  const code = outputFiles[0]!.contents
  // node:crypto loaded here only: the cluster's primary imports this module (siblingModule) before it forks.
  const {createHash} = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')
  const digest = createHash('sha256').update(code).digest('hex').slice(0, 16)
  const dir = path.join(nodeModulesAbove(entry), '.cache', 'mlship-workers')
  const file = path.join(dir, `${path.basename(entry, '.ts')}-${digest}.mjs`)
  if (!existsSync(file)) {
    mkdirSync(dir, {recursive: true})
    // Written under another name and renamed: processes starting the same worker at once never read half a file.
    const partial = `${file}.${process.pid}-${Math.random().toString(36).slice(2)}`
    writeFileSync(partial, code)
    renameSync(partial, file)
  }
  return pathToFileURL(file)
}

/** The nearest node_modules folder at or above the file's folder. */
function nodeModulesAbove(file: string): string {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules')
    if (existsSync(candidate)) return candidate
    if (path.dirname(dir) === dir) throw new Error(`no node_modules folder above ${file}: run npm ci in the project`)
  }
}

/** The URL of a sibling module, with the extension this file itself has (.ts from sources, .js when built). */
export function siblingModule(base: string, name: string): URL {
  const extension = base.endsWith('.ts') ? '.ts' : '.js'
  return new URL(`./${name}${extension}`, base)
}
