import {execFileSync} from 'node:child_process'
import {readdir, readFile, utimes, writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import path from 'node:path'
import isRegexSafe from 'safe-regex2'
import {describe, expect, it} from 'vitest'

import {bundleServer} from './bundle.js'
import {FIND_MY_WAY_OWN_REGEXPS, SELF_CHECK_NAMESPACE} from './find-my-way-self-check.js'
import {workDirPerTest} from './test-support/work-dir.js'

const findMyWay = createRequire(import.meta.url).resolve('find-my-way')

const workDir = workDirPerTest('mlship-self-check-test-')

describe("find-my-way's self-check in the bundle", () => {
  it('answers safe only for regular expressions that safe-regex2 itself finds safe', () => {
    for (const re of FIND_MY_WAY_OWN_REGEXPS) expect(isRegexSafe(re), String(re)).toBe(true)
  })

  it('knows every regular expression find-my-way checks as it loads (else the shortcut is lost, never wrong)', async () => {
    const source = await readFile(findMyWay, 'utf8')
    const constants = new Map(
      [...source.matchAll(/^const (\w+) = (\/.+\/[dgimsuy]*)$/gm)].map(([, name, literal]) => [name!, literal!]),
    )
    const checked = [...source.matchAll(/^if \(!isRegexSafe\((\w+)\)\)/gm)].map(([, name]) => name!)
    expect(checked.length).toBeGreaterThan(0)
    const literals = checked.map((name) => {
      const [, pattern, flags] = /^\/(.+)\/([a-z]*)$/.exec(constants.get(name) ?? '') ?? []
      return String(new RegExp(pattern!, flags))
    })
    expect(literals.sort()).toEqual(FIND_MY_WAY_OWN_REGEXPS.map(String).sort())
  })

  it('still refuses an unsafe regex parameter in a route, and the bundle is cached (no generated module as input)', async () => {
    const entry = path.join(workDir(), 'router.mjs')
    await writeFile(
      entry,
      `import FindMyWay from ${JSON.stringify(findMyWay)}
const router = FindMyWay()
router.on('GET', '/items/:id(^\\\\d+$)', () => 'item')
let refused = ''
try {
  router.on('GET', '/evil/:x(^(a+)+$)', () => 'evil')
} catch (error) {
  refused = error.message
}
console.log(JSON.stringify({found: router.find('GET', '/items/42').handler(), refused}))
`,
    )
    await utimes(entry, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000))
    const cacheDir = path.join(workDir(), 'cache')
    const outDir = path.join(workDir(), 'out')
    await bundleServer({cacheDir, entryPoints: {main: entry}, outDir})
    const answer = JSON.parse(execFileSync(process.execPath, [path.join(outDir, 'main.js')], {encoding: 'utf8'})) as {
      found: string
      refused: string
    }
    expect(answer).toEqual({found: 'item', refused: expect.stringMatching(/regex .* is not safe/) as string})

    const [key] = await readdir(path.join(cacheDir, 'server-bundle'))
    const {inputs} = JSON.parse(await readFile(path.join(cacheDir, 'server-bundle', key!, 'inputs.json'), 'utf8')) as {
      inputs: Array<{file: string}>
    }
    expect(inputs.map((input) => input.file)).toContain(findMyWay)
    expect(inputs.some((input) => input.file.includes(SELF_CHECK_NAMESPACE))).toBe(false)
  })
})
