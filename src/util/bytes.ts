/** 1536 -> "1.5 KB": decimal units, as `docker images` and registries show sizes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = -1
  do {
    value /= 1000
    unit++
  } while (value >= 1000 && unit < units.length - 1)
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`
}
