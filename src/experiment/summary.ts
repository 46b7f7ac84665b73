import type {ResolvedModel} from '../model/load-model.js'
import {resolveExperiment} from './resolve.js'

/** What `mlship validate` says of an experiment: its variants, each loaded and checked against this model. */
export interface ExperimentSummary {
  name: string
  control: string
  sticky: string
  outcome?: string
  variants: Array<{name: string; model: string; dir: string; version: string; weight: number; shadow: boolean}>
}

/** Loads and checks every variant of model.yaml's experiment (exit 2 at the line of a bad one); none without one. */
export async function checkExperiment(project: ResolvedModel): Promise<ExperimentSummary | undefined> {
  const resolved = await resolveExperiment(project)
  if (!resolved) return undefined
  const {config} = resolved
  return {
    control: resolved.control,
    name: config.name,
    ...(config.outcome ? {outcome: `${config.outcome.type} (${config.outcome.goal})`} : {}),
    sticky: !config.sticky
      ? 'none (weighted random)'
      : 'header' in config.sticky
        ? `header ${config.sticky.header}`
        : `body field ${config.sticky.field}`,
    variants: resolved.variants.map((v) => ({
      dir: v.project.dir,
      model: v.model,
      name: v.name,
      shadow: v.shadow,
      version: v.project.config.version,
      weight: v.weight,
    })),
  }
}
