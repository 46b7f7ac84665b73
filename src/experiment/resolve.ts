import {existsSync} from 'node:fs'
import {realpath} from 'node:fs/promises'
import path from 'node:path'

import {controlVariant, type ExperimentConfig, THIS_MODEL} from '../config/experiment.js'
import {CONFIG_FILE_NAME} from '../config/load.js'
import type {OutputSpec} from '../config/schema.js'
import {errorMessage, isMlshipError} from '../errors.js'
import {loadModelProject, type ResolvedModel} from '../model/load-model.js'
import {incompatibilities} from './compatibility.js'
import {configErrorAt} from './config-location.js'

export interface ResolvedVariant {
  name: string
  /** model.yaml's `model` of the variant, as written. */
  model: string
  /** Percentage of the traffic it answers (0 for a shadow). */
  weight: number
  shadow: boolean
  /** This model itself (model: "."), served by the server's own workers. */
  primary: boolean
  /** The variant's model project: this model's for the primary. */
  project: ResolvedModel
}

export interface ResolvedExperiment {
  config: ExperimentConfig
  control: string
  variants: ResolvedVariant[]
}

export interface ResolveExperimentOptions {
  /**
   * Where the variants' model directories are, one folder per variant name, instead of where model.yaml says: the
   * image keeps them under /app/variants (MLSHIP_VARIANTS_DIR), where the relative paths of model.yaml lead nowhere.
   */
  variantsDir?: string
}

/**
 * Loads every variant of model.yaml's `experiment:` (each a model directory with its own model.yaml and model) and
 * checks it against this model: a variant that cannot be loaded, or whose signature cannot answer this model's
 * requests, is a configuration error (exit 2) at its line of model.yaml. Undefined without an experiment. The
 * variants' own `experiment:` sections, if any, are not read: only this model.yaml's counts.
 */
export async function resolveExperiment(
  project: ResolvedModel,
  options: ResolveExperimentOptions = {},
): Promise<ResolvedExperiment | undefined> {
  const config = project.config.experiment
  if (!config) return undefined
  const primaryDir = await realpath(project.dir)
  const loaded = new Map<string, ResolvedModel>()
  const variants: ResolvedVariant[] = []
  for (const [index, variant] of config.variants.entries()) {
    const keyPath = ['experiment', 'variants', index, 'model']
    const dir = variant.model === THIS_MODEL ? project.dir : variantDir(project.dir, variant, options)
    const file = path.join(dir, CONFIG_FILE_NAME)
    if (!existsSync(file)) {
      throw await configErrorAt(
        project.file,
        keyPath,
        `variant "${variant.name}": ${variant.model} has no ${CONFIG_FILE_NAME} (looked for ${file})`,
        {
          code: 'VARIANT_NOT_FOUND',
          details: {variant: variant.name},
          suggestions: [
            'A variant is a model directory with its own model.yaml (`mlship init` or `mlship optimize` make one); model is its path relative to this model.yaml.',
          ],
        },
      )
    }
    const real = await realpath(dir)
    let variantProject: ResolvedModel
    if (real === primaryDir) variantProject = project
    else {
      const known = loaded.get(real)
      try {
        variantProject = known ?? (await loadModelProject(dir))
      } catch (error) {
        throw await configErrorAt(
          project.file,
          keyPath,
          `variant "${variant.name}" (${variant.model}) cannot be loaded: ${errorMessage(error)}`,
          {
            cause: error,
            code: isMlshipError(error) ? error.code : 'VARIANT_INVALID',
            details: {variant: variant.name, ...(isMlshipError(error) ? {variantError: error.details} : {})},
            suggestions: isMlshipError(error) ? error.suggestions : [],
          },
        )
      }
      loaded.set(real, variantProject)
      const problems = incompatibilities(project.signature, variantProject.signature)
      if (problems.length > 0) {
        throw await configErrorAt(
          project.file,
          keyPath,
          `variant "${variant.name}" (${variant.model}) cannot answer this model's requests:\n    ${problems.join('\n    ')}`,
          {
            code: 'VARIANT_INCOMPATIBLE',
            details: {problems, variant: variant.name},
            suggestions: [
              `Every variant takes the inputs of ${project.config.name}'s signature and gives its outputs (same names, types and shapes); \`mlship validate ${path.relative(process.cwd(), dir) || '.'}\` shows the variant's.`,
            ],
          },
        )
      }
    }
    variants.push({
      model: variant.model,
      name: variant.name,
      primary: real === primaryDir,
      project: variantProject,
      shadow: variant.shadow,
      weight: variant.shadow ? 0 : (variant.weight ?? 0),
    })
  }
  if (config.outcome?.type === 'label' && !isClassifier(project.signature.outputs[0]!)) {
    throw await configErrorAt(
      project.file,
      ['experiment', 'outcome', 'type'],
      `a "label" outcome needs a classifier, and the first output "${project.signature.outputs[0]!.name}" has no labels and one value per row`,
      {
        code: 'EXPERIMENT_INVALID',
        suggestions: [
          'Give the output its labels in model.yaml (signature.outputs[].labels), or report a number outcome (the error, the reward) instead.',
        ],
      },
    )
  }
  return {config, control: controlVariant(config).name, variants}
}

function variantDir(
  modelDir: string,
  variant: {name: string; model: string},
  options: ResolveExperimentOptions,
): string {
  if (options.variantsDir) return path.join(options.variantsDir, variant.name)
  return path.resolve(modelDir, variant.model)
}

/** Whether the rows of an output name a class: labels, an integer or string class per row, or scores per class. */
export function isClassifier(output: OutputSpec): boolean {
  if (output.labels) return true
  if (!['float32', 'float64', 'float16'].includes(output.dtype)) return true
  const last = output.shape.at(-1)
  return output.shape.length >= 2 && (typeof last !== 'number' || last !== 1)
}
