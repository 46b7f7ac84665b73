import type {Plugin} from 'esbuild'
import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {errorMessage, MlshipError} from '../errors.js'
import type {WebBundleConfig} from './config.js'

/** The browser sources under page/: TypeScript in a checkout, compiled JavaScript in an installed package. */
function pageSource(name: 'app' | 'predict'): string {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'page')
  const ts = path.join(dir, `${name}.ts`)
  return existsSync(ts) ? ts : path.join(dir, `${name}.js`)
}

/** Imports that stay imports in the output, rewritten to the files beside it. */
function externalPaths(map: Record<string, string>): Plugin {
  const filter = new RegExp(
    `^(${Object.keys(map)
      .map((k) => k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
      .join('|')})$`,
  )
  return {
    name: 'mlship-web-externals',
    setup(build) {
      build.onResolve({filter}, (args) => ({external: true, path: map[args.path]!}))
    },
  }
}

async function bundle(entry: string, plugin: Plugin, define: Record<string, string>): Promise<string> {
  const {build: esbuild} = await import('esbuild')
  try {
    const result = await esbuild({
      bundle: true,
      define,
      entryPoints: [entry],
      format: 'esm',
      keepNames: true,
      legalComments: 'none',
      logLevel: 'silent',
      minify: true,
      platform: 'browser',
      plugins: [plugin],
      target: 'es2022',
      write: false,
    })
    return result.outputFiles[0]!.text
  } catch (error) {
    throw new MlshipError(`Bundling the web page failed: ${errorMessage(error)}`, {
      cause: error,
      code: 'BUNDLE_FAILED',
      suggestions: [
        'This is a bug in mlship (its web page does not bundle). Run again with DEBUG=mlship:* and report it.',
      ],
    })
  }
}

/**
 * predict.js: the predictor and the server's request decoder and response encoder, one minified ES module, with the
 * model's configuration written in and onnxruntime-web imported from the runtime file beside it.
 */
export function bundlePredictModule(config: WebBundleConfig, runtimeModule: string): Promise<string> {
  return bundle(pageSource('predict'), externalPaths({'onnxruntime-web': `./runtime/${runtimeModule}`}), {
    __MLSHIP_WEB_CONFIG__: JSON.stringify(config),
  })
}

/** The page's script, inlined into index.html: it imports ./predict.js. */
export function bundlePageScript(): Promise<string> {
  return bundle(pageSource('app'), externalPaths({'./predict.js': './predict.js'}), {})
}
