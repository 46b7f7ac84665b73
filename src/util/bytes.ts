/** 1536 -> "1.54 kB": decimal units (10^3, 10^6), as `docker images` shows sizes. The one byte formatter of mlship. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = -1
  do {
    value /= 1000
    unit++
  } while (value >= 1000 && unit < units.length - 1)
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`
}
