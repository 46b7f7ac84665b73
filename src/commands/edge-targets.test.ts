/**
 * The edge targets of `mlship build` and `mlship serve` through the CLI: their --json results, the flags that do not
 * apply to them (exit 2), and a model the browser cannot run (exit 2, the operator named).
 */
import {runCommand} from '@oclif/test'
import {copyFile, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

const repoRoot = path.resolve(import.meta.dirname, '../..')
const iris = path.join(repoRoot, 'examples/iris')

describe('mlship build --target web|node', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mlship-edge-cli-'))
    process.exitCode = undefined
  })
  afterEach(async () => {
    process.exitCode = undefined
    await rm(dir, {force: true, recursive: true})
  })

  it('--target web --json writes the bundle and reports its files and sizes', async () => {
    const out = path.join(dir, 'web')
    const {stdout} = await runCommand(['build', iris, '--target', 'web', '--output', out, '--json'], {root: repoRoot})
    const result = JSON.parse(stdout)
    expect(result).toMatchObject({backend: 'wasm', mode: 'web', outputDir: out, target: 'web'})
    const {sizes} = result as {sizes: Record<string, number>}
    expect(sizes.totalBytes).toBe(sizes.runtimeBytes! + sizes.modelBytes! + sizes.pageBytes!)
    expect(process.exitCode ?? 0).toBe(0)
  })

  it('--target web prints the files, the size to download and how to serve it', async () => {
    const out = path.join(dir, 'web')
    const {stdout} = await runCommand(['build', iris, '--target', 'web', '--output', out], {root: repoRoot})
    expect(stdout).toMatch(/runtime\/ort-wasm-simd-threaded\.wasm +14\.\d MB/)
    expect(stdout).toMatch(
      /size +14\.\d MB to download: runtime 14\.\d MB \(onnxruntime-web 1\.30\.0, WebAssembly SIMD\)/,
    )
    expect(stdout).toContain(`mlship serve ${out} --target web`)
  })

  it('--target node --platform linux/arm64 --json lists the folder', async () => {
    const out = path.join(dir, 'node')
    const {stdout} = await runCommand(
      ['build', iris, '--target', 'node', '--platform', 'linux/arm64', '--output', out, '--json'],
      {root: repoRoot},
    )
    const result = JSON.parse(stdout)
    expect(result).toMatchObject({mode: 'node', platform: 'linux/arm64', start: `${out}/start.sh`})
    expect(result.files).toContain('node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node')
  })

  it.each([
    [['--target', 'web', '--print'], '--print is for the image'],
    [['--target', 'web', '--platform', 'linux/arm64'], '--platform is for the image and --target node'],
    [['--target', 'node', '--webgpu'], '--webgpu is for --target web'],
    [['--webgpu'], '--webgpu is for --target web'],
    [['--target', 'node', '--tag', 'x:1'], '--tag is for the image'],
  ])('refuses flags that do not apply: %j (exit 2)', async (flags, message) => {
    const {stdout} = await runCommand(['build', iris, ...flags, '--json'], {root: repoRoot})
    expect(JSON.parse(stdout).error).toMatchObject({code: 'FLAG_INVALID', exitCode: 2})
    expect(JSON.parse(stdout).error.message).toContain(message)
    expect(process.exitCode).toBe(2)
  })

  it('refuses a model the browser cannot run, naming the operator (exit 2)', async () => {
    await copyFile(path.join(repoRoot, 'src/web/fixtures/image-decoder.onnx'), path.join(dir, 'model.onnx'))
    await writeFile(
      path.join(dir, 'model.yaml'),
      'name: decoder\nversion: 1.0.0\nmodel:\n  file: model.onnx\n  format: onnx\n',
    )
    const {stdout} = await runCommand(['build', dir, '--target', 'web', '--output', path.join(dir, 'out'), '--json'], {
      root: repoRoot,
    })
    const {error} = JSON.parse(stdout)
    expect(error.exitCode).toBe(2)
    expect(error.message).toContain('ImageDecoder')
    expect(process.exitCode).toBe(2)
  })
})

describe('mlship serve --target web', () => {
  afterEach(() => {
    process.exitCode = undefined
  })

  it('refuses flags of the model server (exit 2)', async () => {
    const {stdout} = await runCommand(['serve', iris, '--target', 'web', '--local', '--json'], {root: repoRoot})
    expect(JSON.parse(stdout).error).toMatchObject({code: 'FLAG_INVALID', exitCode: 2})
  })
})
