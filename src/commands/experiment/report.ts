import * as Flags from '@oclif/core/flags'

import {BaseCommand} from '../../base-command.js'
import {apiKeyFlags, apiKeyFromFlags} from '../../flags/api-key.js'
import type {ExperimentReport} from '../../experiment/analysis.js'

export default class ExperimentReportCommand extends BaseCommand<ExperimentReport> {
  static override description = `Reads what a running server counted for the experiment of its model.yaml (GET /experiment) and reports, per variant: the requests it answered and its share of them, its error rate, p50 and p99 latency, its prediction distribution, a shadow's agreement with the answers, and the outcome (POST /feedback) as a rate or a mean with its confidence interval. Each variant is compared with the control: the difference and its interval, the p-value (a two-proportion z-test for rates and accuracies, Welch's t-test for means), the outcomes still needed to detect experiment.minimum_detectable_effect, and a verdict in words. The split is checked against the weights (a chi-squared test: a mismatch means a biased assignment).

Several --url (the replicas of one model) are added up before the statistics are computed. The counts start when a server starts: a restart (a new model.yaml) starts a new experiment.

${BaseCommand.exitCodesHelp}`

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> --url http://127.0.0.1:8080',
      description: 'Report the experiment of a local server.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --url http://10.0.0.5:8080 --url http://10.0.0.6:8080 --json',
      description: 'Two replicas added up, as JSON.',
    },
  ]

  static override flags = {
    ...apiKeyFlags,
    url: Flags.string({
      description: 'A running server (its GET /experiment); repeat for the replicas of one model.',
      multiple: true,
      required: true,
    }),
  }

  static override summary = 'Report an A/B test: per-variant figures, comparisons with the control and a verdict.'

  async run(): Promise<ExperimentReport> {
    const {flags} = await this.parse(ExperimentReportCommand)
    // The statistics (jStat, the latency histograms) load when a report is made, not with every command.
    const {experimentReport} = await import('../../experiment/report.js')
    const {renderExperimentReport} = await import('../../experiment/report-text.js')
    const report = await experimentReport({apiKey: await apiKeyFromFlags(flags), urls: flags.url})
    this.log(renderExperimentReport(report))
    return report
  }
}
