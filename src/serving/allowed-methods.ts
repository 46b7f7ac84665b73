/**
 * The methods a path is served with, from the app's routes (pattern -> methods), for a 405 with `Allow` on a known
 * path asked with another method. The app answers it from its not-found handler rather than from a route per path and
 * method: those 405 routes were three router insertions in four, some 6 ms of each serving process's start (issue 19).
 *
 * Patterns are find-my-way's as the serving app writes them: static segments, `:name` parameters (one segment) and a
 * trailing `*`. Built on the first call, when every route is registered; answers undefined for a path no route has.
 */
export function allowedMethods(routes: ReadonlyMap<string, ReadonlySet<string>>): (path: string) => string | undefined {
  let matchers: {pattern: RegExp; allow: string}[] | undefined
  return (path) => {
    matchers ??= [...routes].map(([url, methods]) => ({
      allow: [...methods].sort().join(', '),
      pattern: routeRegExp(url),
    }))
    return matchers.find(({pattern}) => pattern.test(path))?.allow
  }
}

/** A route pattern as a regular expression over a request's path (no query). */
export function routeRegExp(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => {
      if (segment === '*') return '.*'
      if (segment.startsWith(':')) return '[^/]+'
      return segment.replaceAll(/[.*+?^${}()|[\]\\]/g, String.raw`\$&`)
    })
    .join('/')
  return new RegExp(`^${source}$`)
}
