import * as z from 'zod'

import {THIS_MODEL} from './variants.js'

export {primaryVariant, THIS_MODEL} from './variants.js'

/**
 * The `experiment:` section of model.yaml: several variants of the model served by one server, split by weight (A/B
 * tests) or fed a copy of the traffic (shadows), with outcomes joined to the variant that answered. Checked here for
 * what one file can tell (names, weights, references); src/experiment/resolve.ts checks the variants' models.
 */

// Variant and experiment names go into HTTP headers, metric labels, folder names of the image and the Dockerfile:
// lowercase letters, digits, "-" and "_", starting and ending with a letter or digit.
const NAME = /^[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?$/
// An HTTP header name (RFC 9110 token).
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

export const EXPERIMENT_NAME_RULE = 'lowercase letters, digits, "-" and "_" (at most 32), e.g. "candidate"'
const nameSchema = z.string().regex(NAME, EXPERIMENT_NAME_RULE)

export const OUTCOME_TYPES = ['binary', 'label', 'number'] as const
export type OutcomeType = (typeof OUTCOME_TYPES)[number]

/** The model of the primary model.yaml itself, as a variant's `model`. */

export const variantSchema = z.strictObject({
  name: nameSchema.describe('The variant: in the `variant` of every answer, the X-Mlship-Variant header and metrics.'),
  model: z
    .string()
    .min(1)
    .describe(
      'The model directory of this variant (its own model.yaml), relative to this model.yaml; "." is this model.',
    ),
  weight: z
    .number()
    .min(0, 'a weight is a percentage from 0 to 100')
    .max(100, 'a weight is a percentage from 0 to 100')
    .refine((weight) => Math.abs(weight * 100 - Math.round(weight * 100)) < 1e-6, {
      error: 'a weight has at most two decimals (the split has a resolution of 0.01%)',
    })
    .optional()
    .describe('Percentage of the traffic this variant answers; the weights of the variants that answer sum to 100.'),
  shadow: z
    .boolean()
    .default(false)
    .describe('A shadow gets a copy of the traffic at a lower priority; its answers are compared, never returned.'),
  description: z.string().optional(),
})

export const stickySchema = z.union([
  z.strictObject({
    header: z
      .string()
      .regex(HEADER_NAME, 'an HTTP header name such as "X-User-Id"')
      .describe('The request header whose value picks the variant (the same value, the same variant).'),
  }),
  z.strictObject({
    field: z
      .string()
      .min(1)
      .describe(
        'A top-level field of the request body (or of a v2 request\'s "parameters") whose value picks the variant.',
      ),
  }),
])

export const outcomeSchema = z.strictObject({
  type: z
    .enum(OUTCOME_TYPES)
    .describe(
      'What POST /feedback carries: binary (true/false: a conversion), label (the true class: accuracy) or number (a reward or a value: its mean).',
    ),
  goal: z
    .enum(['maximize', 'minimize'])
    .default('maximize')
    .describe('Whether a higher outcome is better (conversions, accuracy, revenue) or a lower one (errors, cost).'),
})

export const feedbackSchema = z.strictObject({
  max_predictions: z
    .number()
    .int()
    .positive()
    .default(100_000)
    .describe('Predictions (rows) remembered for POST /feedback; the least recently used go first.'),
  ttl_seconds: z
    .number()
    .positive()
    .default(86_400)
    .describe('How long a request id can get its outcome; later feedback for it is answered 404.'),
})

export const experimentSchema = z
  .strictObject({
    name: nameSchema.describe('The experiment; it also seeds the sticky assignment (another name, another split).'),
    variants: z
      .array(variantSchema)
      .min(2, 'an experiment has at least two variants (this model and another)')
      .describe('The variants in a fixed order: sticky assignment lays the weights out in this order.'),
    control: nameSchema
      .optional()
      .describe('The variant the others are compared with; default: the one whose model is "." (this model).'),
    sticky: stickySchema
      .optional()
      .describe(
        'Sticky assignment: a header ({header: X-User-Id}) or body field ({field: user_id}) picks the variant.',
      ),
    force_header: z
      .boolean()
      .default(true)
      .describe('Whether X-Mlship-Variant: NAME may force a variant (debugging); false ignores the header.'),
    outcome: outcomeSchema.optional().describe('The outcome POST /feedback reports; without it there is no /feedback.'),
    minimum_detectable_effect: z
      .number()
      .positive()
      .optional()
      .describe(
        'The smallest difference from the control worth detecting, in outcome units (0.02: two points of a rate); the report says how many more outcomes that needs.',
      ),
    alpha: z.number().gt(0).lt(0.5).default(0.05).describe('Significance level of the comparisons.'),
    power: z.number().gt(0.5).lt(1).default(0.8).describe('Power wanted for the minimum detectable effect.'),
    feedback: feedbackSchema.default(() => feedbackSchema.parse({})),
  })
  .superRefine((experiment, context) => {
    const issue = (message: string, path: Array<string | number>) => context.addIssue({code: 'custom', message, path})
    const seen = new Map<string, number>()
    let sum = 0
    let primary: number | undefined
    experiment.variants.forEach((variant, index) => {
      const first = seen.get(variant.name)
      if (first !== undefined)
        issue(`variant "${variant.name}" is declared twice (also variants[${first}])`, ['variants', index, 'name'])
      else seen.set(variant.name, index)
      if (variant.model === THIS_MODEL && primary === undefined) primary = index
      if (variant.shadow) {
        if (variant.weight !== undefined && variant.weight > 0)
          issue(
            `variant "${variant.name}" is a shadow and has a weight of ${variant.weight}: a shadow never answers, so it takes no share of the traffic (remove weight, or shadow)`,
            ['variants', index, 'weight'],
          )
        return
      }
      if (variant.weight === undefined) {
        issue(`variant "${variant.name}" answers requests but has no weight (a percentage; or shadow: true)`, [
          'variants',
          index,
        ])
        return
      }
      sum += variant.weight
    })
    const answering = experiment.variants.filter((v) => !v.shadow)
    if (answering.length === 0) issue('every variant is a shadow: at least one must answer (a weight)', ['variants'])
    else if (answering.every((v) => v.weight !== undefined) && Math.abs(sum - 100) > 1e-6) {
      const listed = answering.map((v) => `${v.name} ${v.weight}`).join(' + ')
      issue(`the weights sum to ${round(sum)}, not 100 (${listed})`, ['variants'])
    }
    if (primary === undefined)
      issue('no variant is this model: one variant needs model: "." (the model this model.yaml describes)', [
        'variants',
      ])
    if (experiment.control !== undefined) {
      const control = experiment.variants.find((v) => v.name === experiment.control)
      if (!control)
        issue(
          `unknown variant "${experiment.control}" (the variants: ${experiment.variants.map((v) => v.name).join(', ')})`,
          ['control'],
        )
      else if (control.shadow)
        issue(`the control "${control.name}" is a shadow: the control must answer requests`, ['control'])
    } else if (primary !== undefined && experiment.variants[primary]!.shadow) {
      issue('this model (model: ".") is a shadow: name the control that answers requests with control:', ['control'])
    }
  })

export type ExperimentConfig = z.output<typeof experimentSchema>
export type VariantConfig = z.output<typeof variantSchema>

/** The control of an experiment: `control`, else the variant that is this model. */
export function controlVariant(experiment: ExperimentConfig): VariantConfig {
  const named = experiment.control ?? experiment.variants.find((v) => v.model === THIS_MODEL)!.name
  return experiment.variants.find((v) => v.name === named)!
}

function round(value: number): number {
  return Math.round(value * 100) / 100
}
