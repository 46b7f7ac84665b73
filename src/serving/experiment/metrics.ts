import {Counter, Gauge, Histogram, type Registry} from 'prom-client'

/** The experiment's own series, in the server's registry beside the per-variant serving metrics. */
export interface ExperimentMetrics {
  readonly assignments: Counter<'variant' | 'assignment'>
  readonly shadowCopies: Counter<'variant' | 'outcome'>
  readonly shadowAgreement: Counter<'variant' | 'result'>
  readonly shadowAbsDifference: Histogram<'variant'>
  readonly feedback: Counter<'result'>
  readonly outcomes: Counter<'variant'>
  readonly outcomeSum: Gauge<'variant'>
}

const DIFFERENCE_BUCKETS = [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000]

export function createExperimentMetrics(registry: Registry): ExperimentMetrics {
  const registers = [registry]
  return {
    assignments: new Counter({
      help: 'Inference requests by the variant that answered and how it was chosen: sticky (a key), random, forced (X-Mlship-Variant).',
      labelNames: ['variant', 'assignment'] as const,
      name: 'mlship_experiment_requests_total',
      registers,
    }),
    feedback: new Counter({
      help: 'POST /feedback calls by result: recorded, forced (accepted, not counted), unknown (404), duplicate (409), invalid (400).',
      labelNames: ['result'] as const,
      name: 'mlship_feedback_total',
      registers,
    }),
    outcomeSum: new Gauge({
      help: 'Sum of the outcomes reported for the predictions of a variant (with mlship_experiment_outcomes_total: their mean).',
      labelNames: ['variant'] as const,
      name: 'mlship_experiment_outcome_value_sum',
      registers,
    }),
    outcomes: new Counter({
      help: 'Outcomes (rows) reported by POST /feedback for the predictions of a variant.',
      labelNames: ['variant'] as const,
      name: 'mlship_experiment_outcomes_total',
      registers,
    }),
    shadowAbsDifference: new Histogram({
      buckets: DIFFERENCE_BUCKETS,
      help: "Absolute difference between a shadow's prediction and the answer's, per row (regression outputs).",
      labelNames: ['variant'] as const,
      name: 'mlship_shadow_abs_difference',
      registers,
    }),
    shadowAgreement: new Counter({
      help: "Rows where a shadow predicted the answer's class (agree) or another (disagree): classifiers.",
      labelNames: ['variant', 'result'] as const,
      name: 'mlship_shadow_agreement_total',
      registers,
    }),
    shadowCopies: new Counter({
      help: 'Copies of requests for a shadow: completed, shed (the server was busy or the shadow full: shadows go first) or failed.',
      labelNames: ['variant', 'outcome'] as const,
      name: 'mlship_shadow_requests_total',
      registers,
    }),
  }
}
