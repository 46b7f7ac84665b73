/**
 * A rendered Dockerfile cut into the three stages of an mlship image, built one FROM the other:
 *
 * - runtime: the base image, its settings, the data folder, onnxruntime-node and the bundled server (about 50 MB);
 * - model: FROM the runtime stage, the model and its external data;
 * - config: FROM the model stage, model.yaml, build.env and the labels.
 *
 * Each stage is found again by a label carrying the digest of its inputs, so a rebuild after a model.yaml-only change
 * builds the config stage alone, from a context of a few kilobytes, instead of sending the engine 50 MB it already
 * has (the classic builder reads the whole context before it can tell a step is cached). The image has the file-system
 * layers and configuration of one built from the whole Dockerfile, plus the stage label of its model stage.
 */

export type StageName = 'runtime' | 'model' | 'config'

export interface BuildStage {
  name: StageName
  /** The stage's instructions; the model and config stages have no FROM line (the stage before goes there). */
  text: string
  /** The instructions as the engine names its steps ("COPY model/ /app/model/"), FROM included where it is given. */
  instructions: string[]
  /**
   * The build context paths its COPY instructions read (folders end with "/"); undefined for the runtime stage, which
   * gets every path the later stages do not read.
   */
  sources: string[] | undefined
}

/** Marks a stage image: "runtime:sha256:..." or "model:sha256:...". Final images inherit it from their model stage. */
export const STAGE_LABEL = 'dev.mlship.build-stage'

const MODEL_COPY = /^COPY\s+model\/\s/
const CONFIG_COPY = /^COPY\s+config\/\s/

/**
 * The stages of a Dockerfile laid out as templates/image/Dockerfile.hbs lays it out, or undefined for one that is not
 * (a --template of the user's): exactly one COPY of model/ and after it one COPY of config/, and no FROM after the
 * model's COPY. Such a Dockerfile is built in one go, as before.
 */
export function splitStages(dockerfile: string): BuildStage[] | undefined {
  const lines = dockerfile.split('\n')
  const instructions = instructionLines(lines)
  const modelAt = instructions.filter((i) => MODEL_COPY.test(i.text))
  const configAt = instructions.filter((i) => CONFIG_COPY.test(i.text))
  if (modelAt.length !== 1 || configAt.length !== 1) return undefined
  const model = modelAt[0]!.line
  const config = configAt[0]!.line
  if (config < model) return undefined
  const later = instructions.filter((i) => i.line >= model)
  // Another stage, or a file read in a way this cut does not follow (ADD, COPY's JSON form, --from): one go.
  if (later.some((i) => /^(FROM|ADD)\s/i.test(i.text) || /^COPY\s+(.*\s)?(\[|--from=)/i.test(i.text))) return undefined
  const stage = (name: StageName, from: number, to: number): BuildStage => {
    const own = instructions.filter((i) => i.line >= from && i.line < to)
    return {
      instructions: own.map((i) => i.text),
      name,
      sources: name === 'runtime' ? undefined : own.flatMap((i) => copySources(i.text)),
      text: `${lines.slice(from, to).join('\n').trimEnd()}\n`,
    }
  }
  return [stage('runtime', 0, model), stage('model', model, config), stage('config', config, lines.length)]
}

/** The Dockerfile a stage is built from: FROM the stage before (an image id), its own lines, its label. */
export function stageDockerfile(stage: BuildStage, from: string | undefined, label: string | undefined): string {
  const head = from === undefined ? '' : `FROM ${from}\n`
  const tail = label === undefined ? '' : `LABEL ${STAGE_LABEL}="${label}"\n`
  return `${head}${stage.text}${tail}`
}

/** How many steps the engine reports for a stage built by stageDockerfile (FROM and the label step included). */
export function stageSteps(stage: BuildStage, hasFrom: boolean, hasLabel: boolean): string[] {
  return [...(hasFrom ? ['FROM (the stage before)'] : []), ...stage.instructions, ...(hasLabel ? ['LABEL'] : [])]
}

interface Instruction {
  /** Index of its first line. */
  line: number
  /** The instruction with continuation lines joined, as the engine prints it in "Step i/n : ...". */
  text: string
}

function instructionLines(lines: string[]): Instruction[] {
  const out: Instruction[] = []
  let current: Instruction | undefined
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!
    const trimmed = raw.trim()
    if (current) {
      // Comment lines inside a continued instruction are dropped by the parser.
      if (trimmed.startsWith('#')) continue
      const continues = trimmed.endsWith('\\')
      current.text += ` ${continues ? trimmed.slice(0, -1).trim() : trimmed}`
      if (!continues) {
        out.push(current)
        current = undefined
      }
      continue
    }
    if (trimmed === '' || trimmed.startsWith('#')) continue
    if (trimmed.endsWith('\\')) current = {line: i, text: trimmed.slice(0, -1).trim()}
    else out.push({line: i, text: trimmed})
  }
  if (current) out.push(current)
  return out
}

/** The context paths a shell-form COPY reads (its arguments but the last, flags aside). */
function copySources(instruction: string): string[] {
  const words = instruction.split(/\s+/)
  if (words[0]?.toUpperCase() !== 'COPY') return []
  return words
    .slice(1)
    .filter((w) => !w.startsWith('--'))
    .slice(0, -1)
}
