import {spawn} from 'node:child_process'
import {once} from 'node:events'
import {cp, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {writeBuildContext} from './context.js'

const imageModel = path.resolve(import.meta.dirname, '../serving/fixtures/preprocess/image')
const photo = path.resolve(import.meta.dirname, '../preprocess/fixtures/photo.jpg')

let work: string
beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlship-image-context-'))
})
afterEach(() => rm(work, {force: true, recursive: true}))

/** Every file under `dir`, relative, with forward slashes. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {recursive: true, withFileTypes: true})
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
}

describe('the build context of a model with image inputs', () => {
  it("carries sharp's native files for the platform, and the bundled server answers an image with them", async () => {
    const output = path.join(work, 'context')
    await writeBuildContext({cacheDir: false, dir: imageModel, outputDir: output, platform: 'linux/amd64'})
    const img = (await listTree(path.join(output, 'runtime/node_modules/@img'))).sort()
    expect(img.some((file) => /^sharp-linux-x64\/lib\/sharp-linux-x64.*\.node$/.test(file))).toBe(true)
    expect(img.some((file) => file.startsWith('sharp-libvips-linux-x64/lib/libvips-cpp.so'))).toBe(true)
    expect(img.filter((file) => file.includes('glib-2.0'))).toEqual([])

    // The image's layout without Docker: /app/node_modules, /app/server, /app/model (model.yaml from config/).
    const model = path.join(output, 'model')
    await cp(path.join(output, 'config', 'model.yaml'), path.join(model, 'model.yaml'))
    const server = spawn(process.execPath, [path.join(output, 'runtime/server/main.js')], {
      env: {...process.env, HOST: '127.0.0.1', MLSHIP_MODEL_DIR: model, PORT: '0'},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let log = ''
        server.stdout.on('data', (chunk: Buffer) => {
          log += chunk.toString()
          const ready = /"container_port":(\d+).*"msg":"ready"/.exec(log)
          if (ready) resolve(Number(ready[1]))
        })
        server.once('exit', (code) => reject(new Error(`the server exited (${code}): ${log}`)))
      })
      const response = await fetch(`http://127.0.0.1:${port}/predict`, {
        body: await readFile(photo),
        headers: {'content-type': 'image/jpeg'},
        method: 'POST',
      })
      const body = (await response.json()) as {label?: string; error?: string}
      expect(response.status).toBe(200)
      expect(['red', 'green', 'blue']).toContain(body.label)
    } finally {
      // It must stop on SIGTERM, its stdout read or not: a server left running holds its port and threads.
      if (server.exitCode === null && server.signalCode === null) {
        const exited = once(server, 'exit')
        server.kill('SIGTERM')
        await exited
      }
    }
  })

  it('leaves them out for a model without image inputs', async () => {
    const dir = path.join(work, 'iris')
    await cp(path.resolve(import.meta.dirname, '../../examples/iris'), dir, {recursive: true})
    const output = path.join(work, 'context')
    const entry = path.join(work, 'server.ts')
    await writeFile(entry, 'console.log(1)\n')
    await writeBuildContext({dir, entryPoints: {main: entry}, outputDir: output})
    expect((await listTree(path.join(output, 'runtime/node_modules'))).some((f) => f.startsWith('@img/'))).toBe(false)
  })
})

describe('the build context of a model with text inputs', () => {
  const textModel = path.resolve(import.meta.dirname, '../serving/fixtures/preprocess/text')
  const tokenizer = path.resolve(import.meta.dirname, '../preprocess/fixtures/tokenizer.json')

  it('carries the tokenizer.json the model.yaml names, and refuses one outside the model directory', async () => {
    const entry = path.join(work, 'server.ts')
    await writeFile(entry, 'console.log(1)\n')
    const outside = await writeBuildContext({dir: textModel, entryPoints: {main: entry}}).catch((e: unknown) => e)
    expect((outside as Error).message).toMatch(
      /the tokenizer of input "input_ids" \(preprocess.text.tokenizer\) \(.*\) is outside the model directory/,
    )

    const dir = path.join(work, 'text')
    await cp(textModel, dir, {recursive: true})
    await cp(tokenizer, path.join(dir, 'tokenizer.json'))
    const yaml = await readFile(path.join(dir, 'model.yaml'), 'utf8')
    await writeFile(path.join(dir, 'model.yaml'), yaml.replace(/tokenizer: .*/, 'tokenizer: tokenizer.json'))
    const context = await writeBuildContext({dir, entryPoints: {main: entry}, outputDir: path.join(work, 'context')})
    expect(context.files.map((f) => [f.role, f.path])).toContainEqual(['tokenizer', '/app/model/tokenizer.json'])
    expect(await readFile(path.join(work, 'context', 'model', 'tokenizer.json'), 'utf8')).toBe(
      await readFile(tokenizer, 'utf8'),
    )
  })
})
