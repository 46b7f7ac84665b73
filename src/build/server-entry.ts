import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

import {ExitCode, MlshipError} from '../errors.js'
import {packageRoot} from '../util/paths.js'

export interface ServerBundleInput {
  /** Output name (without .js) -> absolute source file. */
  entryPoints: Record<string, string>
  /** Files copied beside the bundle: name -> absolute source file. */
  extraFiles: Record<string, string>
}

interface EntrypointsModule {
  /** Output name (without .js) -> absolute source file. */
  serverEntryPoints?: () => Record<string, string>
  /** Bundle-relative name -> absolute source file. */
  serverAssetFiles?: () => Record<string, string>
  SERVING_ENTRYPOINTS?: Record<string, string>
  SERVING_BUNDLE_FILES?: Record<string, string>
  SERVING_DOCS_ASSETS?: readonly string[]
}

/**
 * What the image's server is bundled from, as src/serving/entrypoints.ts lists it: the process entry and the
 * inference worker (paths relative to the package root, in src/ when mlship runs from its sources, in dist/ when it
 * is installed), and Swagger UI's assets for /docs.
 */
export async function serverBundleInput(): Promise<ServerBundleInput> {
  const specifier = '../serving/entrypoints.js'
  let mod: EntrypointsModule
  try {
    mod = (await import(specifier)) as EntrypointsModule
  } catch (error) {
    throw new MlshipError('The serving app is not part of this mlship installation, so no image can be built.', {
      cause: error,
      code: 'SERVING_APP_MISSING',
      exitCode: ExitCode.unexpected,
    })
  }
  if (mod.serverEntryPoints) return {entryPoints: mod.serverEntryPoints(), extraFiles: mod.serverAssetFiles?.() ?? {}}
  const root = packageRoot()
  const entryPoints: Record<string, string> = {}
  for (const [key, relative] of Object.entries(mod.SERVING_ENTRYPOINTS ?? {})) {
    const outName = (mod.SERVING_BUNDLE_FILES?.[key] ?? `${key}.js`).replace(/\.js$/, '')
    entryPoints[outName] = sourceFile(root, relative)
  }
  const extraFiles: Record<string, string> = {}
  if (mod.SERVING_DOCS_ASSETS && mod.SERVING_DOCS_ASSETS.length > 0) {
    const staticDir = path.join(path.dirname(createRequire(path.join(root, 'package.json')).resolve('@fastify/swagger-ui/package.json')), 'static')
    for (const asset of mod.SERVING_DOCS_ASSETS) extraFiles[`swagger-ui/${asset}`] = path.join(staticDir, asset)
  }
  return {entryPoints, extraFiles}
}

/** src/serving/main.ts when the sources are there (a checkout), else dist/serving/main.js (an installed package). */
function sourceFile(root: string, relative: string): string {
  const fromSource = path.join(root, relative)
  if (existsSync(fromSource)) return fromSource
  const compiled = path.join(root, relative.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js'))
  if (existsSync(compiled)) return compiled
  throw new MlshipError(`The serving app's entry ${relative} is missing from this mlship installation (looked in ${fromSource} and ${compiled}).`, {
    code: 'SERVING_APP_MISSING',
    exitCode: ExitCode.unexpected,
  })
}
