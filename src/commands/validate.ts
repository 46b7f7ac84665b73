import {BaseCommand} from '../base-command.js'
import {checkExperiment, type ExperimentSummary} from '../experiment/summary.js'
import {type InspectResult, inspectModel} from '../model/inspect.js'
import {formatShape} from '../model/signature.js'
import {renderTable} from '../util/table.js'
import {modelDirArg} from '../flags/model-dir.js'
import {formatBytes} from '../util/bytes.js'

export type ValidateResult = InspectResult & {experiment?: ExperimentSummary}

export default class Validate extends BaseCommand<ValidateResult> {
  static override hiddenAliases = ['inspect']

  static override args = {
    dir: modelDirArg(),
  }

  static override description = `Loads model.yaml and the model it names, checks the declared signature against the model, and prints the resolved configuration and signature. With an experiment: section, every variant is loaded too and checked against this model's signature.

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> examples/iris', description: 'Check the iris example.'},
    {
      command: '<%= config.bin %> <%= command.id %> --json',
      description: 'The resolved configuration as JSON (for CI).',
    },
  ]

  static override summary = 'Check model.yaml against the model and show the resolved configuration.'

  async run(): Promise<ValidateResult> {
    const {args} = await this.parse(Validate)
    const inspected = await inspectModel(args.dir)
    const experiment = await checkExperiment({...inspected, modelPath: inspected.model.path})
    const result: ValidateResult = {...inspected, ...(experiment ? {experiment} : {})}
    const {config, model, signature} = result

    this.log(`${config.name}@${config.version}  ${config.description ?? ''}`.trimEnd())
    this.log(`config     ${result.file}`)
    this.log(`model      ${model.path} (${formatBytes(model.sizeBytes)}, sha256 ${model.sha256.slice(0, 12)})`)
    this.log(`runtime    onnxruntime-node ${model.onnxruntime}; signature from ${result.signatureSource}\n`)
    this.log(
      renderTable(
        ['', 'name', 'dtype', 'shape', 'labels'],
        [
          ...signature.inputs.map((t) => ['input', t.name, t.dtype, formatShape(t.shape), '']),
          ...signature.outputs.map((t) => [
            'output',
            t.name,
            t.dtype,
            formatShape(t.shape),
            'labels' in t && t.labels ? t.labels.join(', ') : '',
          ]),
        ],
      ),
    )
    const serving = config.serving
    this.log(
      `\nserving    ${serving.host}:${serving.port}, workers ${serving.workers}, intra-op threads ${serving.intra_op_threads}, ` +
        `batching ${serving.batching.enabled ? `on (max ${serving.batching.max_batch_size}, ${serving.batching.max_delay_ms} ms)` : 'off'}, ` +
        `cache ${serving.cache.enabled ? `on (${serving.cache.max_entries})` : 'off'}`,
    )
    this.log(
      `build      ${config.build.gpu ? config.build.gpu_base_image + ' (GPU)' : config.build.base_image}, ${config.build.platform}`,
    )
    this.log(`registry   ${config.registry ? `${config.registry.host}/${config.registry.repository}` : 'not set'}`)
    if (experiment) {
      this.log(
        `\nexperiment ${experiment.name}: control ${experiment.control}, sticky ${experiment.sticky}, outcome ${experiment.outcome ?? 'none'}`,
      )
      this.log(
        renderTable(
          ['variant', 'model', 'version', 'weight'],
          experiment.variants.map((v) => [v.name, v.model, v.version, v.shadow ? 'shadow' : `${v.weight}%`]),
        ),
      )
    }
    this.log(`\nOK: model.yaml and the model agree${experiment ? ', and every variant can answer its requests' : ''}.`)
    return result
  }
}
