import {describe, expect, it} from 'vitest'

import {ConfigError} from '../errors.js'
import {controlVariant} from './experiment.js'
import {type ConfigProblem, parseConfigText} from './load.js'

const head = `name: iris
version: 1.0.0
model:
  file: model.onnx
experiment:
  name: iris-v2-test
`

function problemsOf(text: string): ConfigProblem[] {
  try {
    parseConfigText(text, 'model.yaml')
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).exitCode).toBe(2)
    return (error as ConfigError).details.problems as ConfigProblem[]
  }
  throw new Error('expected the config to be rejected')
}

describe('experiment: in model.yaml', () => {
  it('reads the example of the README, with its defaults', () => {
    const config = parseConfigText(
      `${head}  variants:
    - {name: control, model: ., weight: 90}
    - {name: candidate, model: ../iris-v2, weight: 10}
    - {name: quantised, model: ../iris-int8, shadow: true}
  sticky: {header: X-User-Id}
  outcome: {type: binary}
  minimum_detectable_effect: 0.02
`,
      'model.yaml',
    )
    const experiment = config.experiment!
    expect(experiment.variants.map((v) => [v.name, v.weight, v.shadow])).toEqual([
      ['control', 90, false],
      ['candidate', 10, false],
      ['quantised', undefined, true],
    ])
    expect(experiment).toMatchObject({
      alpha: 0.05,
      feedback: {max_predictions: 100_000, ttl_seconds: 86_400},
      force_header: true,
      outcome: {goal: 'maximize', type: 'binary'},
      power: 0.8,
      sticky: {header: 'X-User-Id'},
    })
    expect(controlVariant(experiment).name).toBe('control')
  })

  it('refuses weights that do not sum to 100, at the line of the variants', () => {
    const [problem] = problemsOf(`${head}  variants:
    - {name: control, model: ., weight: 90}
    - {name: candidate, model: ../b, weight: 20}
`)
    expect(problem).toMatchObject({
      keyPath: 'experiment.variants',
      line: 8,
      message: 'the weights sum to 110, not 100 (control 90 + candidate 20)',
    })
  })

  it('refuses a negative weight at its line and column', () => {
    const problems = problemsOf(`${head}  variants:
    - {name: control, model: ., weight: 110}
    - name: candidate
      model: ../b
      weight: -10
`)
    expect(problems).toContainEqual(
      expect.objectContaining({
        column: 15,
        keyPath: 'experiment.variants[1].weight',
        line: 11,
        message: 'a weight is a percentage from 0 to 100',
      }),
    )
  })

  it('refuses a shadow that is also weighted', () => {
    const [problem] = problemsOf(`${head}  variants:
    - {name: control, model: ., weight: 100}
    - {name: quantised, model: ../q, shadow: true, weight: 10}
`)
    expect(problem).toMatchObject({keyPath: 'experiment.variants[1].weight', line: 9})
    expect(problem!.message).toMatch(/"quantised" is a shadow and has a weight of 10/)
  })

  it('refuses an unknown control, naming the variants', () => {
    const [problem] = problemsOf(`${head}  control: baseline
  variants:
    - {name: control, model: ., weight: 50}
    - {name: candidate, model: ../b, weight: 50}
`)
    expect(problem).toMatchObject({
      keyPath: 'experiment.control',
      line: 7,
      message: 'unknown variant "baseline" (the variants: control, candidate)',
    })
  })

  it('refuses a name used twice, a variant without a weight, and an experiment without this model', () => {
    const problems = problemsOf(`${head}  variants:
    - {name: a, model: ../a, weight: 100}
    - {name: a, model: ../b}
`)
    expect(problems.map((p) => [p.keyPath, p.message])).toEqual([
      [
        'experiment.variants',
        'no variant is this model: one variant needs model: "." (the model this model.yaml describes)',
      ],
      ['experiment.variants[1]', 'variant "a" answers requests but has no weight (a percentage; or shadow: true)'],
      ['experiment.variants[1].name', 'variant "a" is declared twice (also variants[0])'],
    ])
  })

  it('refuses a variant name that cannot be a header value, label and folder name', () => {
    const [problem] = problemsOf(`${head}  variants:
    - {name: Control A, model: ., weight: 100}
    - {name: b, model: ../b, shadow: true}
`)
    expect(problem).toMatchObject({keyPath: 'experiment.variants[0].name', line: 8})
    expect(problem!.message).toContain('lowercase letters, digits')
  })

  it('takes a sticky body field, weights with two decimals, and forcing switched off', () => {
    const config = parseConfigText(
      `${head}  variants:
    - {name: a, model: ., weight: 33.33}
    - {name: b, model: ../b, weight: 33.33}
    - {name: c, model: ../c, weight: 33.34}
  sticky: {field: user_id}
  force_header: false
`,
      'model.yaml',
    )
    expect(config.experiment!.sticky).toEqual({field: 'user_id'})
    expect(config.experiment!.force_header).toBe(false)
    const [problem] = problemsOf(`${head}  variants:
    - {name: a, model: ., weight: 33.333}
    - {name: b, model: ../b, weight: 66.667}
`)
    expect(problem!.message).toContain('at most two decimals')
  })
})
