import jStat from 'jstat'

/**
 * The statistics of the experiment report, written as the textbooks state them; the normal, Student's t and
 * chi-squared distributions come from jStat. Checked against statsmodels and scipy on known data
 * (statistics.test.ts and its fixture, computed once by test-support/reference-statistics.py).
 */

export interface Interval {
  low: number
  high: number
}

export interface Comparison {
  /** Treatment minus control. */
  difference: number
  /** Confidence interval of the difference. */
  interval: Interval
  /** Two-sided. */
  pValue: number
  /** The test statistic: z for proportions, t for means. */
  statistic: number
  /** Welch's degrees of freedom (means only). */
  degreesOfFreedom?: number
}

/** Counts of a proportion: successes out of n. */
export interface Proportion {
  successes: number
  n: number
}

/** A sample summarised: its size, mean and (n - 1) variance. */
export interface MeanSample {
  n: number
  mean: number
  variance: number
}

export function normalQuantile(p: number): number {
  return jStat.normal.inv(p, 0, 1)
}

/**
 * Student's t quantile. jStat's own inverse is good to about 1e-7 (an incomplete beta inverse); two Newton steps on its
 * cdf, which is accurate to double precision, make it as exact as the cdf.
 */
export function tQuantile(p: number, degreesOfFreedom: number): number {
  let x = jStat.studentt.inv(p, degreesOfFreedom)
  for (let i = 0; i < 2; i++)
    x -= (jStat.studentt.cdf(x, degreesOfFreedom) - p) / jStat.studentt.pdf(x, degreesOfFreedom)
  return x
}

function normalCdf(x: number): number {
  return jStat.normal.cdf(x, 0, 1)
}

/** The two-sided critical value of a confidence level: 1.96 for 0.95. */
function criticalZ(confidence: number): number {
  return normalQuantile(1 - (1 - confidence) / 2)
}

/**
 * Wilson's score interval of a proportion: unlike the textbook p +- z sqrt(p(1-p)/n) it stays inside [0, 1] and
 * keeps its coverage for small n and rates near 0 or 1 (statsmodels' proportion_confint, method "wilson").
 */
export function wilsonInterval({n, successes}: Proportion, confidence = 0.95): Interval {
  if (n === 0) return {high: 1, low: 0}
  const z = criticalZ(confidence)
  const p = successes / n
  const z2 = z * z
  const denominator = 1 + z2 / n
  const center = (p + z2 / (2 * n)) / denominator
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denominator
  return {high: Math.min(1, center + half), low: Math.max(0, center - half)}
}

/** Student's t interval of a mean (needs n >= 2). */
export function meanInterval({mean, n, variance}: MeanSample, confidence = 0.95): Interval {
  if (n < 2) return {high: Number.POSITIVE_INFINITY, low: Number.NEGATIVE_INFINITY}
  const half = tQuantile(1 - (1 - confidence) / 2, n - 1) * Math.sqrt(variance / n)
  return {high: mean + half, low: mean - half}
}

/**
 * The two-proportion z-test of treatment against control: the pooled standard error under the null hypothesis of
 * equal rates for the p-value (statsmodels' proportions_ztest), the unpooled (Wald) one for the interval of the
 * difference.
 */
export function twoProportionTest(control: Proportion, treatment: Proportion, confidence = 0.95): Comparison {
  const p1 = control.successes / control.n
  const p2 = treatment.successes / treatment.n
  const difference = p2 - p1
  const pooled = (control.successes + treatment.successes) / (control.n + treatment.n)
  const pooledSe = Math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
  // Both arms all successes or all failures: no variation, no evidence of a difference.
  const statistic = pooledSe === 0 ? 0 : difference / pooledSe
  const se = Math.sqrt((p1 * (1 - p1)) / control.n + (p2 * (1 - p2)) / treatment.n)
  const z = criticalZ(confidence)
  return {
    difference,
    interval: {high: difference + z * se, low: difference - z * se},
    pValue: twoSidedNormalP(statistic),
    statistic,
  }
}

/**
 * Welch's t-test of treatment against control: no assumption of equal variances, Welch-Satterthwaite degrees of
 * freedom (scipy's ttest_ind with equal_var=False); the interval of the difference uses the same t distribution.
 */
export function welchTest(control: MeanSample, treatment: MeanSample, confidence = 0.95): Comparison {
  const a = control.variance / control.n
  const b = treatment.variance / treatment.n
  const se = Math.sqrt(a + b)
  const difference = treatment.mean - control.mean
  const degreesOfFreedom = (a + b) ** 2 / (a ** 2 / (control.n - 1) + b ** 2 / (treatment.n - 1))
  if (se === 0) {
    return {
      degreesOfFreedom: Number.NaN,
      difference,
      interval: {high: difference, low: difference},
      pValue: 1,
      statistic: 0,
    }
  }
  const statistic = difference / se
  // The lower tail keeps its precision where 1 - cdf would round to 0.
  const pValue = Math.min(1, 2 * jStat.studentt.cdf(-Math.abs(statistic), degreesOfFreedom))
  const half = tQuantile(1 - (1 - confidence) / 2, degreesOfFreedom) * se
  return {degreesOfFreedom, difference, interval: {high: difference + half, low: difference - half}, pValue, statistic}
}

export interface SampleSizeOptions {
  alpha: number
  power: number
  /** Treatment size over control size, as the weights plan it (10/90 for a 90/10 split). */
  ratio: number
}

export interface SampleSize {
  control: number
  treatment: number
}

/**
 * Outcomes each arm needs so that a two-sided test at `alpha` detects a standardised effect with the given power, in
 * the normal approximation (statsmodels' NormalIndPower.solve_power), rounded up. The power of n1 control outcomes
 * is Phi(|effect| sqrt(m) - z) + Phi(-|effect| sqrt(m) - z), with m = n1 / (1 + 1/ratio) and z = z_(1-alpha/2); the
 * textbook n1 = ((z + z_power) / effect)^2 (1 + 1/ratio) leaves out the second (tiny) term, and is refined here by
 * Newton's method on the whole power function.
 */
export function sampleSize(effect: number, options: SampleSizeOptions): SampleSize {
  const d = Math.abs(effect)
  const z = normalQuantile(1 - options.alpha / 2)
  const scale = 1 + 1 / options.ratio
  let m = ((z + normalQuantile(options.power)) / d) ** 2
  for (let i = 0; i < 20; i++) {
    const root = Math.sqrt(m)
    const gap = normalCdf(d * root - z) + normalCdf(-d * root - z) - options.power
    const slope = ((jStat.normal.pdf(d * root - z, 0, 1) - jStat.normal.pdf(-d * root - z, 0, 1)) * d) / (2 * root)
    const step = gap / slope
    m -= step
    if (Math.abs(step) < 1e-9 * m) break
  }
  const control = m * scale
  return {control: Math.ceil(control - 1e-9), treatment: Math.ceil(control * options.ratio - 1e-9)}
}

/**
 * Cohen's h, the standardised difference of two proportions (variance-stabilised by the arcsine): statsmodels'
 * proportion_effectsize.
 */
export function proportionEffect(p1: number, p2: number): number {
  return 2 * Math.asin(Math.sqrt(p2)) - 2 * Math.asin(Math.sqrt(p1))
}

/** Sample sizes to detect a change of `mde` (absolute) of a rate that is `baseline` in the control. */
export function proportionSampleSize(baseline: number, mde: number, options: SampleSizeOptions): SampleSize {
  const target = baseline + mde <= 1 ? baseline + mde : baseline - mde
  return sampleSize(proportionEffect(baseline, Math.min(1, Math.max(0, target))), options)
}

/** Sample sizes to detect a change of `mde` in a mean whose standard deviation is `sd`. */
export function meanSampleSize(sd: number, mde: number, options: SampleSizeOptions): SampleSize {
  return sampleSize(mde / sd, options)
}

/** Pooled standard deviation of two samples. */
export function pooledSd(a: MeanSample, b: MeanSample): number {
  const dof = a.n + b.n - 2
  if (dof <= 0) return Number.NaN
  return Math.sqrt(((a.n - 1) * a.variance + (b.n - 1) * b.variance) / dof)
}

/**
 * Pearson's chi-squared goodness of fit of observed counts to expected shares (scipy's chisquare): a sample ratio
 * mismatch check, since a split that differs from its weights means the assignment or the counting is biased.
 */
export function chiSquaredGoodnessOfFit(
  observed: readonly number[],
  shares: readonly number[],
): {statistic: number; pValue: number; degreesOfFreedom: number} {
  const total = observed.reduce((sum, o) => sum + o, 0)
  const shareSum = shares.reduce((sum, s) => sum + s, 0)
  let statistic = 0
  observed.forEach((o, i) => {
    const expected = (total * shares[i]!) / shareSum
    statistic += (o - expected) ** 2 / expected
  })
  const degreesOfFreedom = observed.length - 1
  return {degreesOfFreedom, pValue: 1 - jStat.chisquare.cdf(statistic, degreesOfFreedom), statistic}
}

function twoSidedNormalP(z: number): number {
  return Math.min(1, 2 * normalCdf(-Math.abs(z)))
}
