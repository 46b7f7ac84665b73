// Test support (excluded from the build): mlship only writes the exposition format (prom-client does); tests and the
// scale benchmark read it back.

/**
 * Reads one sample from the Prometheus text exposition format: the value of `name` whose labels include `labels`.
 * Used by tests and benchmarks that scrape /metrics; undefined when no sample matches.
 */
export function readSample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const match = /^([^{\s]+)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line)
    if (!match || match[1] !== name) continue
    const found: Record<string, string> = {}
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[pair[1]!] = pair[2]!
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3])
  }
  return undefined
}

/** The sum of every sample of `name` (over all label values). */
export function sumSamples(text: string, name: string): number {
  let sum = 0
  for (const line of text.split('\n')) {
    const match = /^([^{\s]+)(?:\{.*\})?\s+(\S+)(?:\s+\d+)?$/.exec(line)
    if (match && match[1] === name) sum += Number(match[2])
  }
  return sum
}
