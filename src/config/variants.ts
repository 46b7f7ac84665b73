import type {ExperimentConfig, VariantConfig} from './experiment.js'

// Apart from experiment.ts, whose zod schemas a serving process does not load (it is given model.yaml already
// checked: see serving/cluster-protocol.ts).

/** A variant's `model` that names this model itself. */
export const THIS_MODEL = '.'

/** The variant that is this model (model: "."), first of them if several are (an A/A test). */
export function primaryVariant(experiment: ExperimentConfig): VariantConfig {
  return experiment.variants.find((v) => v.model === THIS_MODEL)!
}
