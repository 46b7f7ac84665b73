import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {examplesDir} from '../util/paths.js'

/** A module of this folder: its source (src/, under tsx) or its compiled file (dist/). */
function source(name: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const ts = path.join(here, `${name}.ts`)
  return existsSync(ts) ? ts : path.join(here, `${name}.js`)
}

/**
 * What the serving app is bundled from (esbuild, for the image that `mlship build` makes) as ES modules: the process
 * entry as an ES module (main.js: the edge node folder runs it), its two worker threads, side by side (`main.js`,
 * `inference-worker.js`, `decode-worker.js`) with the code they share in `chunk-*.js` files beside them
 * (image/bundle.ts), because the server starts each of them from `new URL('./<name>.js', import.meta.url)`; the image
 * runs the server from CommonJS (serverCommonJsEntryPoints).
 * Output name (without .js) -> absolute source file, from src/ (tsx) or dist/ (compiled) alike.
 */
export function serverEntryPoints(): Record<string, string> {
  return {
    'decode-worker': source('decode-worker'),
    'inference-worker': source('inference-worker'),
    main: source('main'),
    // Run by the image's build: writes the code cache of server-code.cjs (templates/image/Dockerfile.hbs).
    'write-code-cache': source('write-code-cache'),
  }
}

/**
 * Bundled into one CommonJS file each (`<name>.cjs`): code that V8's code cache serves (code-cache.ts), which only a
 * script compiled through vm.Script can take on Node 20, not an ES module.
 */
export function serverCommonJsEntryPoints(): Record<string, string> {
  return {
    // The image's server processes: the Dockerfile runs `./server.cjs` (and cluster.ts forks it), which runs
    // server-code.cjs with V8's code cache.
    server: source('image-server-loader'),
    'server-code': source('image-server'),
  }
}

/**
 * Files to copy beside the bundle as they are: bundle-relative name -> absolute source. Swagger UI's two asset files go
 * in a `swagger-ui/` folder beside the bundle (see routes/docs.ts) so /docs works offline; the iris example in
 * `rehearsal/`, for the code cache (write-code-cache.ts).
 */
export function serverAssetFiles(): Record<string, string> {
  const pkg = createRequire(import.meta.url).resolve('@fastify/swagger-ui/package.json')
  const dir = path.join(path.dirname(pkg), 'static')
  const iris = path.join(examplesDir(), 'iris')
  return {
    // The model write-code-cache.ts rehearses a process's start on: the iris example.
    'rehearsal/model.onnx': path.join(iris, 'model.onnx'),
    'rehearsal/model.yaml': path.join(iris, 'model.yaml'),
    'swagger-ui/swagger-ui-bundle.js': path.join(dir, 'swagger-ui-bundle.js'),
    'swagger-ui/swagger-ui.css': path.join(dir, 'swagger-ui.css'),
  }
}
