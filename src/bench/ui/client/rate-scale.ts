/**
 * The rate slider is logarithmic: a teaching lab goes from 5 req/s to the knee of a fast model (tens of thousands)
 * on one control, with the same precision per octave everywhere. Position 0 is "no load".
 */
export const SLIDER_STEPS = 1000

/** The rate at a slider position (0..SLIDER_STEPS), rounded to what a person would type. */
export function rateAt(position: number, maxRate: number): number {
  if (position <= 0 || maxRate <= 0) return 0
  const raw = 10 ** ((Math.log10(maxRate) * Math.min(position, SLIDER_STEPS)) / SLIDER_STEPS)
  return Math.min(maxRate, niceRate(raw))
}

/** The slider position that shows a rate. */
export function positionOf(rate: number, maxRate: number): number {
  if (rate < 1 || maxRate <= 1) return 0
  return Math.max(1, Math.min(SLIDER_STEPS, Math.round((SLIDER_STEPS * Math.log10(rate)) / Math.log10(maxRate))))
}

/** Whole requests per second under 100, then two significant digits and a half (120, 125, 130 ... 1,250 ...). */
export function niceRate(rate: number): number {
  if (rate < 100) return Math.max(1, Math.round(rate))
  const unit = 10 ** (Math.floor(Math.log10(rate)) - 1) / 2
  return Math.round(rate / unit) * unit
}
