import {copyFile, mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {errorMessage, MlshipError} from '../errors.js'

export interface BundleServerOptions {
  /** Output name (without extension) -> source file, e.g. {main: '.../serving/main.ts', worker: '...'}. */
  entryPoints: Record<string, string>
  outDir: string
  /** Files copied next to the bundle as they are (e.g. the healthcheck script, static assets): name -> source. */
  extraFiles?: Record<string, string>
}

/** Packages that stay outside the bundle: native code is loaded from node_modules in the image. */
export const BUNDLE_EXTERNAL = ['onnxruntime-node', 'onnxruntime-common', '*.node']

/**
 * Bundles the serving app into a few ES module files with esbuild, so that the image carries no node_modules tree
 * beyond onnxruntime-node. The output is deterministic: the same sources give the same bytes, and the image layer
 * that holds it is re-used by the next build.
 */
export async function bundleServer(options: BundleServerOptions): Promise<string[]> {
  await mkdir(options.outDir, {recursive: true})
  const {build: esbuild} = await import('esbuild')
  try {
    await esbuild({
      // CommonJS dependencies call require(): give the ES module bundle one.
      banner: {
        js: "import {createRequire as __mlshipCreateRequire} from 'node:module';const require=__mlshipCreateRequire(import.meta.url);",
      },
      bundle: true,
      entryNames: '[name]',
      entryPoints: options.entryPoints,
      external: BUNDLE_EXTERNAL,
      format: 'esm',
      keepNames: true,
      legalComments: 'none',
      logLevel: 'silent',
      minify: true,
      outdir: options.outDir,
      platform: 'node',
      target: 'node20',
      write: true,
    })
  } catch (error) {
    throw new MlshipError(`Bundling the serving app failed: ${errorMessage(error)}`, {
      cause: error,
      code: 'BUNDLE_FAILED',
      suggestions: [
        'This is a bug in mlship (its serving app does not bundle). Run again with DEBUG=mlship:* and report it.',
      ],
    })
  }
  await writeFile(path.join(options.outDir, 'package.json'), `${JSON.stringify({type: 'module'})}\n`)
  const names = [...Object.keys(options.entryPoints).map((name) => `${name}.js`), 'package.json']
  for (const [name, from] of Object.entries(options.extraFiles ?? {})) {
    await mkdir(path.dirname(path.join(options.outDir, name)), {recursive: true})
    await copyFile(from, path.join(options.outDir, name))
    names.push(name)
  }
  return names
}
