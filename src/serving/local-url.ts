/**
 * The URL this machine reaches a server on, listening on `host` and `port`: a wildcard address (0.0.0.0, ::) is
 * reached on 127.0.0.1, an IPv6 address goes in brackets.
 */
export function localUrl(host: string, port: number): string {
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  return `http://${urlHost}:${port}`
}
