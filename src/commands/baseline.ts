import * as Flags from '@oclif/core/flags'

import {type BaselineResult, computeBaseline} from '../baseline/baseline.js'
import {BaseCommand} from '../base-command.js'
import {renderTable} from '../util/table.js'
import {modelDirArg} from '../flags/model-dir.js'

export default class Baseline extends BaseCommand<BaselineResult> {
  static override args = {
    dir: modelDirArg(),
  }

  static override description = `Reads the training data (CSV or JSONL), computes per-feature reference statistics (mean, std, min, max, quantile bins) and the same for the model's outputs on that data, and writes them into model.yaml under monitoring.baseline. The server compares a sliding window of live traffic against them and exposes a drift score per feature (population stability index) on /metrics, with a warning log line when one crosses monitoring.drift.threshold.

CSV: one column per feature of the model's single input, an optional header naming them (--ignore-column drops a label column). JSONL: one /predict body per line ({"features": [...]} or {"inputs": {...}}).

${BaseCommand.exitCodesHelp}`

  static override enableJsonFlag = true

  static override examples = [
    {
      command:
        '<%= config.bin %> <%= command.id %> examples/digits-mlp --data examples/digits-mlp/train.csv --ignore-column label',
      description: 'Baseline of the digits example from its training split.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --data train.jsonl --dry-run --json',
      description: 'Show the statistics, write nothing.',
    },
  ]

  static override flags = {
    bins: Flags.integer({default: 10, description: 'Quantile bins per feature.', max: 100, min: 2}),
    data: Flags.string({char: 'd', description: 'Training data file (.csv or .jsonl).', required: true}),
    'dry-run': Flags.boolean({description: 'Compute and show the baseline, write nothing.'}),
    'ignore-column': Flags.string({
      description: 'A CSV column that is not a feature (repeatable), e.g. the label.',
      multiple: true,
    }),
    outputs: Flags.boolean({
      allowNo: true,
      default: true,
      description: 'Also run the model over the data and keep statistics of its outputs.',
    }),
  }

  static override summary = 'Compute drift-monitoring reference statistics from training data into model.yaml.'

  async run(): Promise<BaselineResult> {
    const {args, flags} = await this.parse(Baseline)
    const result = await computeBaseline({
      bins: flags.bins,
      data: flags.data,
      dir: args.dir,
      dryRun: flags['dry-run'],
      ignoreColumns: flags['ignore-column'],
      onProgress: (rows) => process.stderr.write(`  ${rows} rows read\r`),
      outputs: flags.outputs,
    })
    const show = [...result.features, ...result.outputs]
    const rows = show
      .slice(0, 12)
      .map((f) => [f.input, f.name ?? String(f.index), f.mean, f.std, f.min, f.max, f.bin_fractions.length])
    this.log(renderTable(['tensor', 'feature', 'mean', 'std', 'min', 'max', 'bins'], rows))
    if (show.length > rows.length) this.log(`... and ${show.length - rows.length} more`)
    for (const s of result.skipped) this.log(`skipped ${s.tensor}: ${s.reason}`)
    this.log(
      `\n${result.features.length} input features and ${result.outputs.length} output values from ${result.rows} rows of ${result.data}` +
        (result.written ? `\nwritten to ${result.file} (monitoring.baseline)` : '\ndry run: model.yaml not changed'),
    )
    return result
  }
}
