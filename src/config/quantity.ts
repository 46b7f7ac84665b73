/**
 * Kubernetes resource quantities ("500m", "2", "1.5", "512Mi", "1G"), as the API server reads them: a decimal number
 * and an optional suffix, binary (Ki Mi Gi Ti Pi Ei), decimal (k M G T P E) or milli (m). The value is in base units
 * (cores for CPU, bytes for memory), for comparing a request with its limit and sizing workers from a CPU limit.
 */

const QUANTITY = /^(\d+(?:\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/

const MULTIPLIERS: Record<string, number> = {
  '': 1,
  E: 1e18,
  Ei: 2 ** 60,
  G: 1e9,
  Gi: 2 ** 30,
  k: 1e3,
  Ki: 2 ** 10,
  M: 1e6,
  m: 1e-3,
  Mi: 2 ** 20,
  P: 1e15,
  Pi: 2 ** 50,
  T: 1e12,
  Ti: 2 ** 40,
}

export const QUANTITY_PATTERN = QUANTITY.source

export function isQuantity(text: string): boolean {
  return QUANTITY.test(text)
}

/** The value of a quantity in base units, or undefined when the text is not one. */
export function parseQuantity(text: string): number | undefined {
  const match = QUANTITY.exec(text)
  if (!match) return undefined
  return Number(match[1]) * MULTIPLIERS[match[2] ?? '']!
}

/** Bytes as a memory quantity in whole Mi, rounded up to a multiple of `stepMi` (the way people write them). */
export function mebibytes(bytes: number, stepMi = 64): string {
  const mi = Math.ceil(bytes / 2 ** 20 / stepMi) * stepMi
  return `${Math.max(stepMi, mi)}Mi`
}
