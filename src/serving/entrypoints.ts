import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/**
 * What the serving app is bundled from (esbuild, for the image that `mlship build` makes): the process entry, its two
 * worker threads and the cluster layout's HTTP processes, bundled as files side by side (`main.js`,
 * `inference-worker.js`, `decode-worker.js`, `cluster-child.js`) with the code they share in `chunk-*.js` files beside
 * them (image/bundle.ts), because the server starts each of them from `new URL('./<name>.js', import.meta.url)`.
 * Output name (without .js) -> absolute source file, from src/ (tsx) or dist/ (compiled) alike.
 */
export function serverEntryPoints(): Record<string, string> {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const source = (name: string) => {
    const ts = path.join(here, `${name}.ts`)
    return existsSync(ts) ? ts : path.join(here, `${name}.js`)
  }
  return {
    // The cluster layout's HTTP processes (cluster.ts forks `./cluster-child.js`).
    'cluster-child': source('cluster-child'),
    'decode-worker': source('decode-worker'),
    'inference-worker': source('inference-worker'),
    main: source('main'),
  }
}

/**
 * Files to copy beside the bundle as they are: bundle-relative name -> absolute source. Swagger UI's two asset files go
 * in a `swagger-ui/` folder beside the bundle (see routes/docs.ts) so /docs works offline.
 */
export function serverAssetFiles(): Record<string, string> {
  const pkg = createRequire(import.meta.url).resolve('@fastify/swagger-ui/package.json')
  const dir = path.join(path.dirname(pkg), 'static')
  return {
    'swagger-ui/swagger-ui-bundle.js': path.join(dir, 'swagger-ui-bundle.js'),
    'swagger-ui/swagger-ui.css': path.join(dir, 'swagger-ui.css'),
  }
}
