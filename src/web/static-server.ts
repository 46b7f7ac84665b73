import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'

import {errorMessage, ExitCode, MlshipError} from '../errors.js'

/**
 * The headers that make a page cross-origin isolated (crossOriginIsolated === true), which SharedArrayBuffer and so
 * onnxruntime-web's threads need. CORP lets the isolated page load its own files.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
}

export interface StaticServerOptions {
  dir: string
  host?: string
  /** 0 picks a free port. */
  port?: number
  /** Send the isolation headers (default true): without them the page runs one thread. */
  isolate?: boolean
  /** Pages served beside the folder's files (path -> HTML), e.g. the benchmark's harness. */
  extraPages?: Record<string, string>
}

export interface StaticServer {
  url: string
  close(): Promise<void>
}

/** Serves a folder over HTTP (sirv: correct types for .mjs and .wasm, ETags), with the isolation headers. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const isolate = options.isolate ?? true
  const {default: sirv} = await import('sirv')
  const files = sirv(options.dir, {
    dev: true,
    dotfiles: false,
    setHeaders: (response) => {
      if (isolate) for (const [name, value] of Object.entries(ISOLATION_HEADERS)) response.setHeader(name, value)
    },
  })
  const server = createServer((request, response) => {
    const page = options.extraPages?.[new URL(request.url ?? '/', 'http://x').pathname]
    if (page !== undefined) {
      response.writeHead(200, {'content-type': 'text/html; charset=utf-8', ...(isolate ? ISOLATION_HEADERS : {})})
      response.end(page)
      return
    }
    files(request, response, () => {
      response.writeHead(404, {'content-type': 'text/plain; charset=utf-8'})
      response.end(`not found: ${request.url ?? ''}`)
    })
  })
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 0
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  }).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code
    throw new MlshipError(
      `cannot listen on ${host}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use' : errorMessage(error)}`,
      {
        cause: error,
        code: 'LISTEN_FAILED',
        exitCode: ExitCode.usage,
        suggestions: ['Pick another port with --port (0 picks a free one).'],
      },
    )
  })
  const address = server.address() as AddressInfo
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
    url: `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${address.port}`,
  }
}
