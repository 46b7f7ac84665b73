/** README.md shows what mlship prints: its model.yaml error example is run through the loader, line by line. */
import {copyFile, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {loadConfig} from '../src/config/load.js'

const root = path.resolve(import.meta.dirname, '..')

describe('README.md', () => {
  it("model.yaml mistakes: the example's errors are the loader's, word for word", async () => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('A mistake is reported'))
    const blocks = [...section.matchAll(/((?:^ {4}.*\n)+)/gm)].map((m) =>
      m[1]!
        .split('\n')
        .filter(Boolean)
        .map((line) => line.slice(4)),
    )
    const [yaml, errors] = blocks
    expect(errors!.every((line) => line.startsWith('model.yaml:'))).toBe(true)

    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-readme-'))
    try {
      await writeFile(path.join(dir, 'model.yaml'), `${yaml!.join('\n')}\n`)
      await copyFile(path.join(root, 'examples/iris/model.onnx'), path.join(dir, 'model.onnx'))
      const error = await loadConfig(dir).catch((e: unknown) => e as Error)
      const printed = (error as Error).message
        .split('\n')
        .slice(1)
        .map((line) => line.trim().replace(`${dir}${path.sep}`, ''))
      expect(printed).toEqual(errors)
    } finally {
      await rm(dir, {force: true, recursive: true})
    }
  })
})
