import {appendFile, cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {examplesDir} from '../util/paths.js'
import {CHECKED_CONFIG_FILE, checkedConfigText, readCheckedConfig} from './checked-config.js'
import {loadConfig, parseConfigText} from './load.js'

let work: string
beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'mlship-checked-config-'))
})
afterEach(async () => {
  await rm(work, {force: true, recursive: true})
})

/** A copy of an example with the checked file `mlship build` writes beside its model.yaml. */
async function checkedCopy(example: string): Promise<string> {
  const dir = path.join(work, example)
  await cp(path.join(examplesDir(), example), dir, {recursive: true})
  const yaml = await readFile(path.join(dir, 'model.yaml'))
  await writeFile(path.join(dir, CHECKED_CONFIG_FILE), checkedConfigText(yaml, parseConfigText(yaml.toString(), 'x')))
  return dir
}

describe('readCheckedConfig', () => {
  it.each(['iris', 'digits-mlp', 'digits-image'])('reads %s as loadConfig reads its model.yaml', async (example) => {
    const dir = await checkedCopy(example)
    expect(await readCheckedConfig(dir)).toEqual(await loadConfig(dir))
    expect(await readCheckedConfig(path.join(dir, 'model.yaml'))).toEqual(await loadConfig(dir))
  })

  it('does not apply once model.yaml is not the one it was made from (a file mounted over it, an edit)', async () => {
    const dir = await checkedCopy('iris')
    await appendFile(path.join(dir, 'model.yaml'), '# edited\n')
    expect(await readCheckedConfig(dir)).toBeUndefined()
    // One byte changed, the length kept.
    const again = await checkedCopy('digits-mlp')
    const yaml = await readFile(path.join(again, 'model.yaml'), 'utf8')
    await writeFile(
      path.join(again, 'model.yaml'),
      yaml.replace(/version: "?1\.0\.0"?/, (found) => found.replace('1.0.0', '1.0.1')),
    )
    expect((await readFile(path.join(again, 'model.yaml'), 'utf8')).length).toBe(yaml.length)
    expect(await readFile(path.join(again, 'model.yaml'), 'utf8')).not.toBe(yaml)
    expect(await readCheckedConfig(again)).toBeUndefined()
  })

  it('does not apply where it is missing, unreadable, or of another format', async () => {
    const dir = await checkedCopy('iris')
    const checked = path.join(dir, CHECKED_CONFIG_FILE)
    const document = JSON.parse(await readFile(checked, 'utf8')) as {format: number}
    await writeFile(checked, JSON.stringify({...document, format: document.format + 1}))
    expect(await readCheckedConfig(dir)).toBeUndefined()
    await writeFile(checked, '{"format": 2, "modelYaml')
    expect(await readCheckedConfig(dir)).toBeUndefined()
    await rm(checked)
    expect(await readCheckedConfig(dir)).toBeUndefined()
    expect(await readCheckedConfig(path.join(work, 'nowhere'))).toBeUndefined()
  })
})
