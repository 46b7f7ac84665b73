import {createServer, request as httpRequest} from 'node:http'
import type {AddressInfo} from 'node:net'

/**
 * A plain HTTP proxy in front of the test registry that holds back manifest PUTs for a while, as a registry across a
 * slow link would: two pushes then both pass any check they make before their PUT lands. Everything else (and the
 * PUTs, once delayed) goes to the registry unchanged, the Host header included, so the upload URLs the registry
 * hands out point back at the proxy.
 */
export async function slowManifestProxy(options: {
  upstream: string
  delayMs: number
  /** Which manifest references to hold back (all when absent). */
  holdBack?: (reference: string) => boolean
}): Promise<{host: string; close: () => Promise<void>}> {
  const [upstreamHost, upstreamPort] = options.upstream.split(':') as [string, string]
  const server = createServer((incoming, outgoing) => {
    const manifest = /\/manifests\/([^/?]+)$/.exec(incoming.url ?? '')
    const slow = incoming.method === 'PUT' && manifest && (options.holdBack?.(manifest[1]!) ?? true)
    const forward = () => {
      const upstream = httpRequest(
        {
          headers: incoming.headers,
          host: upstreamHost,
          method: incoming.method,
          path: incoming.url,
          port: Number(upstreamPort),
        },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(outgoing)
        },
      )
      upstream.on('error', () => outgoing.destroy())
      incoming.pipe(upstream)
    }
    if (slow) {
      incoming.pause()
      setTimeout(forward, options.delayMs)
    } else forward()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
    host: `127.0.0.1:${port}`,
  }
}
