import {existsSync} from 'node:fs'
import {readdir, readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import path from 'node:path'

import {ConfigError, ExitCode, MlshipError} from '../errors.js'
import {CUDA_INSTALL_COMMAND} from '../serving/device.js'
import {type Platform, platformArch} from './dockerfile.js'

/** A file to put into the build context: `from` on this machine, `to` relative to the context root. */
export interface ContextFile {
  from: string
  to: string
}

/** The CUDA execution provider of onnxruntime-node 1.x for linux/x64 (what ONNXRUNTIME_NODE_INSTALL=cuda12 fetches). */
export const CUDA_PROVIDER_FILES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'] as const
const OPTIONAL_PROVIDER_FILES = ['libonnxruntime_providers_tensorrt.so']

export interface RuntimeFilesOptions {
  platform: Platform
  gpu: boolean
  /** Where onnxruntime-node is installed; found from mlship's own dependencies when absent. */
  onnxruntimeDir?: string
  /** A folder with the CUDA provider files, instead of onnxruntime-node's bin folder (MLSHIP_ONNXRUNTIME_CUDA_DIR). */
  cudaProviderDir?: string
}

export interface RuntimeFiles {
  files: ContextFile[]
  onnxruntimeVersion: string
}

/**
 * onnxruntime-node's runtime: its JS, onnxruntime-common's JS, and the native files of ONE platform (the npm
 * package carries every platform, over 200 MB; linux/x64 alone is about 46 MB). Install scripts, source maps, type
 * declarations and the other platforms stay out of the image.
 */
export async function runtimeFiles(options: RuntimeFilesOptions): Promise<RuntimeFiles> {
  const ortDir = options.onnxruntimeDir ?? resolvePackageDir('onnxruntime-node')
  const commonDir = resolvePackageDir('onnxruntime-common', ortDir)
  const {version} = JSON.parse(await readFile(path.join(ortDir, 'package.json'), 'utf8')) as {version: string}
  const arch = platformArch(options.platform)
  const nativeRel = path.join('bin', 'napi-v6', 'linux', arch)
  const nativeDir = path.join(ortDir, nativeRel)
  if (!existsSync(path.join(nativeDir, 'onnxruntime_binding.node'))) {
    throw new MlshipError(
      `onnxruntime-node ${version} at ${ortDir} has no native files for linux/${arch} (${nativeDir}).`,
      {
        code: 'RUNTIME_MISSING',
        exitCode: ExitCode.usage,
        suggestions: ['Reinstall mlship (`npm install`): the onnxruntime-node package ships the Linux binaries.'],
      },
    )
  }

  const files: ContextFile[] = [{from: path.join(ortDir, 'package.json'), to: 'onnxruntime-node/package.json'}]
  for (const file of await listFiles(path.join(ortDir, 'dist'))) {
    if (file.endsWith('.js')) files.push({from: path.join(ortDir, 'dist', file), to: `onnxruntime-node/dist/${file}`})
  }
  for (const file of await listFiles(nativeDir)) {
    if (OPTIONAL_PROVIDER_FILES.includes(file) || (CUDA_PROVIDER_FILES as readonly string[]).includes(file)) continue
    files.push({
      from: path.join(nativeDir, file),
      to: `onnxruntime-node/${nativeRel}/${file}`.split(path.sep).join('/'),
    })
  }
  if (options.gpu) {
    for (const file of await cudaProviderFiles(nativeDir, options)) {
      files.push({from: file, to: `onnxruntime-node/bin/napi-v6/linux/${arch}/${path.basename(file)}`})
    }
  }

  files.push({from: path.join(commonDir, 'package.json'), to: 'onnxruntime-common/package.json'})
  for (const file of await listFiles(path.join(commonDir, 'dist'))) {
    // dist/cjs and dist/esm each have a package.json that sets their module type: it must come along.
    if (file.endsWith('.js') || file.endsWith('package.json')) {
      files.push({
        from: path.join(commonDir, 'dist', file),
        to: `onnxruntime-common/dist/${file.split(path.sep).join('/')}`,
      })
    }
  }
  return {files: files.map((f) => ({...f, to: `runtime/node_modules/${f.to}`})), onnxruntimeVersion: version}
}

/** Installs sharp for another platform into a folder of its own (npm, in `sharpPlatformInstaller`). */
export type SharpPlatformInstaller = (options: {version: string; arch: string; prefix: string}) => Promise<void>

/**
 * npm, as a user would run it: `npm install --prefix DIR --os=linux --cpu=ARCH --libc=glibc sharp@VERSION` picks
 * sharp's optional packages for that platform (@img/sharp-linux-ARCH, @img/sharp-libvips-linux-ARCH) from the
 * registry or npm's own cache, and runs no install script.
 */
export const npmSharpInstaller: SharpPlatformInstaller = async ({arch, prefix, version}) => {
  const {execa} = await import('execa')
  await execa(
    'npm',
    [
      'install',
      '--prefix',
      prefix,
      '--os=linux',
      `--cpu=${arch}`,
      '--libc=glibc',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--no-save',
      '--no-package-lock',
      `sharp@${version}`,
    ],
    {env: {ONNXRUNTIME_NODE_INSTALL: 'skip'}, stdin: 'ignore'},
  )
}

export interface ImageRuntimeOptions {
  /** Where sharp is installed; found from mlship's own dependencies when absent. */
  sharpDir?: string
  /**
   * mlship's cache folder: sharp's files for a platform this installation lacks (linux/arm64 on an x64 machine) are
   * installed there once, by `installer`, and taken from there after. Without it such a build is refused.
   */
  cacheDir?: string
  installer?: SharpPlatformInstaller
}

/**
 * sharp's native files for ONE platform (the addon and libvips, about 19 MB for linux/x64), for a model with
 * `preprocess.image` inputs: the bundled server requires `@img/sharp-linux-<arch>/sharp.node` at run time from
 * /app/node_modules. sharp's JavaScript is in the bundle. Other models' images do not carry them. npm installs only
 * this machine's platform beside mlship; another one's (linux/arm64 on x64) comes from the cache folder, installed
 * there by npm the first time a build needs it.
 */
export async function imageRuntimeFiles(platform: Platform, options: ImageRuntimeOptions = {}): Promise<ContextFile[]> {
  const arch = platformArch(platform)
  const from = options.sharpDir ?? resolvePackageDir('sharp')
  const names = [`sharp-linux-${arch}`, `sharp-libvips-linux-${arch}`]
  const installed = (name: string, roots: string[]) =>
    roots
      .flatMap((root) => [path.join(root, 'node_modules', '@img', name), path.join(path.dirname(root), '@img', name)])
      .find((candidate) => existsSync(path.join(candidate, 'package.json')))
  let roots = [from]
  if (names.some((name) => !installed(name, roots)) && options.cacheDir) {
    const {version} = JSON.parse(await readFile(path.join(from, 'package.json'), 'utf8')) as {version: string}
    const prefix = path.join(options.cacheDir, 'sharp', `${version}-linux-${arch}`)
    const cached = path.join(prefix, 'node_modules', 'sharp')
    if (names.some((name) => !installed(name, [cached]))) {
      try {
        await (options.installer ?? npmSharpInstaller)({arch, prefix, version})
      } catch (error) {
        throw sharpMissing(arch, names[0]!, version, prefix, `npm could not install them: ${firstLine(error)}`)
      }
    }
    roots = [cached]
  }
  const files: ContextFile[] = []
  for (const name of names) {
    const found = installed(name, roots)
    if (!found) throw sharpMissing(arch, name, undefined, undefined, 'they are not installed here')
    for (const file of await listFiles(found)) {
      // The C headers of libvips' glib are for building against it, not for running; the licences stay.
      if (file === 'README.md' || file.includes(`glib-2.0${path.sep}include`)) continue
      files.push({
        from: path.join(found, file),
        to: `runtime/node_modules/@img/${name}/${file.split(path.sep).join('/')}`,
      })
    }
  }
  return files
}

function sharpMissing(
  arch: string,
  name: string,
  version: string | undefined,
  prefix: string | undefined,
  why: string,
): MlshipError {
  const command = `npm install --prefix ${prefix ?? 'DIR'} --os=linux --cpu=${arch} --libc=glibc sharp${version ? `@${version}` : ''}`
  return new MlshipError(`The image input needs sharp's native files for linux/${arch} (@img/${name}): ${why}.`, {
    code: 'RUNTIME_MISSING',
    exitCode: ExitCode.usage,
    suggestions: prefix
      ? [`Check that npm reaches its registry, or run it yourself: ${command}`]
      : [
          'Let mlship install them into its cache folder: unset MLSHIP_CACHE_DIR=off (npm downloads only that platform).',
          `Or reinstall mlship on this platform (npm ci).`,
        ],
  })
}

function firstLine(error: unknown): string {
  const message =
    error instanceof Error ? ((error as {shortMessage?: string}).shortMessage ?? error.message) : String(error)
  return message.split('\n')[0]!
}

async function cudaProviderFiles(nativeDir: string, options: RuntimeFilesOptions): Promise<string[]> {
  if (options.platform !== 'linux/amd64') {
    throw new ConfigError(
      `A GPU image is only possible for linux/amd64: onnxruntime-node has no CUDA provider for ${options.platform}.`,
      {
        code: 'GPU_PLATFORM',
        suggestions: ['Build with --platform linux/amd64, or without --gpu.'],
      },
    )
  }
  const dir = options.cudaProviderDir ?? nativeDir
  const missing = CUDA_PROVIDER_FILES.filter((file) => !existsSync(path.join(dir, file)))
  if (missing.length > 0) {
    throw new ConfigError(
      `The GPU image needs onnxruntime's CUDA execution provider, and ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing from ${dir}.`,
      {
        code: 'GPU_PROVIDER_MISSING',
        details: {dir, missing},
        suggestions: [
          'On a machine with internet access, in the project that has mlship installed, fetch the CUDA 12 binaries:\n' +
            `    ${CUDA_INSTALL_COMMAND}\n` +
            `  (--ignore-scripts=false overrides the ignore-scripts=true of mlship's own .npmrc). ` +
            `It downloads ${CUDA_PROVIDER_FILES.join(', ')} into node_modules/onnxruntime-node/bin/napi-v6/linux/x64/.`,
          'Or copy those files from such a machine into a folder here and set MLSHIP_ONNXRUNTIME_CUDA_DIR to it.',
          'Then run the build again; nothing is downloaded during the build.',
        ],
      },
    )
  }
  const present = [...CUDA_PROVIDER_FILES, ...OPTIONAL_PROVIDER_FILES].filter((file) =>
    existsSync(path.join(dir, file)),
  )
  return present.map((file) => path.join(dir, file))
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {recursive: true, withFileTypes: true})
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort()
}

/** The folder of an installed package, resolved the way node resolves it from mlship (or from `from`). */
export function resolvePackageDir(name: string, from?: string): string {
  const require = createRequire(from ? path.join(from, 'package.json') : import.meta.url)
  let dir = path.dirname(require.resolve(name))
  // require.resolve gives the main file; walk up to the folder whose package.json names the package.
  for (let i = 0; i < 5; i++) {
    const pkg = path.join(dir, 'package.json')
    if (existsSync(pkg) && path.basename(dir) === name.split('/').pop()) return dir
    dir = path.dirname(dir)
  }
  throw new Error(`cannot find the folder of the ${name} package`)
}
