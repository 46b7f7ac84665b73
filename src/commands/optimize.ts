import * as Flags from '@oclif/core/flags'

import {BaseCommand} from '../base-command.js'
import {DEFAULT_MIN_AGREEMENT, OPTIMIZATION_METHODS, type OptimizationMethod} from '../config/schema.js'
import {modelDirArg} from '../flags/model-dir.js'
import type {OptimizeResult} from '../optimize/optimize.js'
import {formatBytes} from '../util/bytes.js'
import {renderTable} from '../util/table.js'

export default class Optimize extends BaseCommand<OptimizeResult> {
  static override args = {
    dir: modelDirArg(),
  }

  static override description = `Makes a faster or smaller model and proves on data that it still gives the same answers.

--method graph: onnxruntime's own offline graph optimisation (constant folding, fusions), saved by onnxruntime.

--method int8: dynamic quantisation. MatMul/Gemm weights in int8 with one scale per output column, activations quantised at run time; onnxruntime's CPU provider runs them with integer kernels (DynamicQuantizeMatMul).

--method fp16: float16 weights and computation, float32 inputs and outputs; operators onnxruntime has no float16 kernel for on the device stay float32. Float16 pays on GPUs; on a CPU it halves the file and little else.

Both models run on the same rows (--data, or model.yaml's examples plus rows drawn from monitoring.baseline): the largest and mean absolute difference of every output, and for classifier outputs (labels in model.yaml) the share of rows whose argmax agrees. Below --min-agreement it refuses with exit code 2 and writes nothing, unless --force. Then it measures both side by side (batch-1 latency, batch-32 throughput, load time) and writes a new model directory, <DIR>-<method> named <name>-<method>, or with --in-place the model beside the source and the next minor version in model.yaml. model.yaml records the provenance under optimization: (source sha256, method, agreement).

${BaseCommand.exitCodesHelp}`

  static override enableJsonFlag = true

  static override examples = [
    {
      command:
        '<%= config.bin %> <%= command.id %> examples/digits-mlp --method int8 --data examples/digits-mlp/test.csv --ignore-column label',
      description:
        'Quantise the digits example to int8, checked on its held-out rows; writes examples/digits-mlp-int8.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --method fp16 --out ../fraud-fp16 --json',
      description: 'Float16 copy of the model in this directory, checked on generated rows.',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --method graph --in-place',
      description: 'Save onnxruntime’s optimised graph beside model.onnx and bump the minor version.',
    },
  ]

  static override flags = {
    data: Flags.string({
      char: 'd',
      description:
        'Rows to compare both models on (.csv or .jsonl, as `mlship baseline` reads them). Default: the examples in model.yaml plus 1000 rows drawn from monitoring.baseline.',
    }),
    force: Flags.boolean({description: 'Write the model even when it agrees less than --min-agreement.'}),
    gpu: Flags.boolean({
      description: 'Optimise, check and measure on the CUDA execution provider (fails when CUDA is not usable).',
    }),
    'ignore-column': Flags.string({
      description: 'A CSV column that is not a feature (repeatable), e.g. the label.',
      multiple: true,
    }),
    'in-place': Flags.boolean({
      description:
        'Write <model>.<method>.onnx beside the source and point model.yaml at it, with the next minor version.',
      exclusive: ['out'],
    }),
    method: Flags.string({
      char: 'm',
      description: 'How to optimise.',
      options: [...OPTIMIZATION_METHODS],
      required: true,
    }),
    'min-agreement': Flags.string({
      default: String(DEFAULT_MIN_AGREEMENT * 100),
      description: 'Least share of rows (percent) whose argmax must agree with the source model.',
    }),
    out: Flags.string({char: 'o', description: 'The new model directory (default: <DIR>-<method>).'}),
  }

  static override summary = 'Graph-optimise or quantise (float16, int8) a model, with an accuracy gate.'

  async run(): Promise<OptimizeResult> {
    const {args, flags} = await this.parse(Optimize)
    const minAgreement = Number(flags['min-agreement'])
    if (!Number.isFinite(minAgreement) || minAgreement < 0 || minAgreement > 100) {
      this.error(`--min-agreement ${flags['min-agreement']} is not a percentage between 0 and 100`, {exit: 2})
    }
    // onnx-proto and onnxruntime load with the optimiser, when it runs: `mlship optimize --help` needs neither.
    const {optimizeModel} = await import('../optimize/optimize.js')
    const result = await optimizeModel({
      data: flags.data,
      dir: args.dir,
      force: flags.force,
      gpu: flags.gpu,
      ignoreColumns: flags['ignore-column'],
      inPlace: flags['in-place'],
      method: flags.method as OptimizationMethod,
      minAgreement: minAgreement / 100,
      onProgress: (message) => process.stderr.write(`  ${message}\n`),
      out: flags.out,
    })
    this.log(renderResult(result))
    return result
  }
}

const percent = (share: number) => `${(share * 100).toFixed(2)}%`
const number = (value: number) => (value >= 0.01 || value === 0 ? value.toPrecision(3) : value.toExponential(2))

/** Times before and after as "2.50x faster" or "1.25x slower". */
function speedRatio(before: number, after: number): string {
  return before >= after ? `${(before / after).toFixed(2)}x faster` : `${(after / before).toFixed(2)}x slower`
}

export function renderResult(result: OptimizeResult): string {
  const lines: string[] = []
  const {accuracy} = result
  lines.push(
    `Accuracy: ${accuracy.rows} rows (${accuracy.data}${accuracy.truncated ? ', the first rows only' : ''})`,
    renderTable(
      ['output', 'max |diff|', 'mean |diff|', 'agreement'],
      accuracy.outputs.map((o) => {
        const share = o.argmax_agreement ?? o.exact_agreement
        const kind = o.argmax_agreement === undefined ? 'exact' : 'argmax'
        return [
          o.name,
          number(o.max_abs_diff),
          number(o.mean_abs_diff),
          share === undefined ? '-' : `${percent(share)} ${kind}`,
        ]
      }),
    ),
  )
  if (accuracy.gated) {
    lines.push(
      accuracy.passed
        ? `agreement ${percent(accuracy.agreement!)} >= ${percent(accuracy.minAgreement)}: passed`
        : `agreement ${percent(accuracy.agreement!)} < ${percent(accuracy.minAgreement)}: written anyway (--force)`,
    )
  }
  const speed = result.speed
  const sizeRatio = result.output.sizeBytes / result.source.sizeBytes
  const rows: Array<Array<string>> = [
    [
      'file size',
      formatBytes(result.source.sizeBytes),
      formatBytes(result.output.sizeBytes),
      `${sizeRatio.toFixed(2)}x`,
    ],
  ]
  if (speed) {
    rows.push(
      [
        'batch-1 latency (median)',
        `${speed.original.latencyMs.toFixed(3)} ms`,
        `${speed.optimized.latencyMs.toFixed(3)} ms`,
        speedRatio(speed.original.latencyMs, speed.optimized.latencyMs),
      ],
      [
        `batch-${speed.batch} throughput`,
        `${Math.round(speed.original.rowsPerSecond)} rows/s`,
        `${Math.round(speed.optimized.rowsPerSecond)} rows/s`,
        `${(speed.optimized.rowsPerSecond / speed.original.rowsPerSecond).toFixed(2)}x`,
      ],
      [
        'load time (median of 3)',
        `${speed.original.loadMs.toFixed(0)} ms`,
        `${speed.optimized.loadMs.toFixed(0)} ms`,
        speedRatio(speed.original.loadMs, speed.optimized.loadMs),
      ],
    )
  }
  lines.push(
    '',
    `Speed (${result.device}, in-process, side by side)`,
    renderTable(['', 'original', result.method, 'ratio'], rows),
  )
  if (result.int8) {
    lines.push('', `int8: ${result.int8.quantized.length} MatMul/Gemm nodes quantised`)
    for (const s of result.int8.skipped) lines.push(`  left in float32: ${s.node} (${s.reason})`)
  }
  if (result.fp16) {
    const ops = (counts: Record<string, number>) =>
      Object.entries(counts)
        .map(([op, n]) => `${op} x${n}`)
        .join(', ') || 'none'
    lines.push(
      '',
      `float16: ${ops(result.fp16.float16Ops)}`,
      `float32 (no float16 kernel, or by specification): ${ops(result.fp16.float32Ops)}`,
    )
    if (result.fp16.clamped > 0)
      lines.push(`${result.fp16.clamped} weights beyond float16's range were clamped to +-65504`)
  }
  for (const note of result.notes) lines.push('', note)
  lines.push(
    '',
    `Written: ${result.output.modelPath}`,
    `         ${result.output.file} (${result.output.name} ${result.output.version})`,
    `Next: mlship serve ${result.output.dir} --local, mlship build ${result.output.dir}`,
  )
  return lines.join('\n')
}
