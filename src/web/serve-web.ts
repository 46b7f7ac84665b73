import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {type Interrupt, onInterrupt} from '../util/interrupt.js'
import {type BuildWebResult, buildWebBundle, readBundleManifest} from './build-web.js'
import {type StaticServer, startStaticServer} from './static-server.js'

export interface ServeWebOptions {
  /** A built bundle (its folder), or a model directory whose bundle is built first (into a temporary folder). */
  dir: string
  host?: string
  port?: number
  /** Send the cross-origin isolation headers (default true; false shows the one-thread page). */
  isolate?: boolean
  onListening?: (info: ServeWebInfo) => void
  onStopping?: (signal: string) => void
  /** Resolves to stop (default: the first SIGINT or SIGTERM). Tests pass their own. */
  until?: (server: StaticServer) => Promise<string>
}

export interface ServeWebInfo {
  url: string
  bundleDir: string
  /** True when the bundle was built for this run (and is removed when it stops). */
  built: boolean
  name: string
  version: string
  backend: BuildWebResult['backend']
  crossOriginIsolated: boolean
  totalBytes: number
}

export interface ServeWebResult extends ServeWebInfo {
  stoppedBy: string
}

/** `mlship serve --target web`: the bundle's folder over HTTP, with the headers cross-origin isolation needs. */
export async function serveWeb(options: ServeWebOptions): Promise<ServeWebResult> {
  let bundle = await readBundleManifest(options.dir)
  let temporary: string | undefined
  if (!bundle) {
    temporary = await mkdtemp(path.join(os.tmpdir(), 'mlship-web-'))
    bundle = await buildWebBundle({dir: options.dir, outputDir: temporary})
  }
  const bundleDir = temporary ?? path.resolve(options.dir)
  let interrupt: Interrupt | undefined
  try {
    const isolate = options.isolate ?? true
    const server = await startStaticServer({dir: bundleDir, host: options.host, isolate, port: options.port ?? 8080})
    const info: ServeWebInfo = {
      backend: bundle.backend,
      built: temporary !== undefined,
      bundleDir,
      crossOriginIsolated: isolate,
      name: bundle.name,
      totalBytes: bundle.sizes.totalBytes,
      url: `${server.url}/`,
      version: bundle.version,
    }
    options.onListening?.(info)
    interrupt = options.until ? undefined : onInterrupt()
    const stoppedBy = await (options.until ? options.until(server) : interrupt!.received)
    options.onStopping?.(stoppedBy)
    await server.close()
    return {...info, stoppedBy}
  } finally {
    interrupt?.dispose()
    if (temporary) await rm(temporary, {force: true, recursive: true})
  }
}
