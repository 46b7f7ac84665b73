import {execFileSync} from 'node:child_process'
import {appendFileSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {median, renderSection, replaceSection, runStamp} from './benchmarks-md.js'

const stamp = {commit: 'abc1234', date: '2026-11-30T12:00:00Z', machine: '2 x CPU'}

describe('BENCHMARKS.md sections', () => {
  it('replaces only the section with the same id', () => {
    const a1 = renderSection({body: 'one', command: 'npm run a', id: 'a', title: 'A'}, stamp)
    const b = renderSection({body: 'bee', command: 'npm run b', id: 'b', title: 'B'}, stamp)
    let text = replaceSection('# mlship benchmarks\n', 'a', a1)
    text = replaceSection(text, 'b', b)
    const a2 = renderSection({body: 'two', command: 'npm run a', id: 'a', title: 'A'}, stamp)
    text = replaceSection(text, 'a', a2)
    expect(text).toContain('two')
    expect(text).not.toContain('one')
    expect(text).toContain('bee')
    expect(text.indexOf('## A')).toBeLessThan(text.indexOf('## B'))
    expect(text).toContain('Written by `npm run a` on 2026-11-30T12:00:00Z, commit `abc1234`')
  })

  it('refuses ids that would break the markers', () => {
    expect(() => renderSection({body: '', command: 'x', id: 'A B', title: 't'}, stamp)).toThrow(/a-z/)
  })

  it('takes the median of odd and even lists', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 2, 3])).toBe(2.5)
  })
})

describe('the run stamp', () => {
  it('marks uncommitted code, but not the figures that earlier benchmarks of the same run wrote', () => {
    const checkout = mkdtempSync(path.join(os.tmpdir(), 'mlship-stamp-'))
    try {
      const git = (...args: string[]) => execFileSync('git', args, {cwd: checkout, encoding: 'utf8'})
      git('init', '-q')
      writeFileSync(path.join(checkout, 'BENCHMARKS.md'), '# figures\n')
      writeFileSync(path.join(checkout, 'server.ts'), 'export {}\n')
      git('add', '.')
      git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'start')
      const head = git('rev-parse', '--short', 'HEAD').trim()

      appendFileSync(path.join(checkout, 'BENCHMARKS.md'), '| a section |\n')
      expect(runStamp(new Date(0), checkout).commit).toBe(head)

      appendFileSync(path.join(checkout, 'server.ts'), '// changed\n')
      expect(runStamp(new Date(0), checkout).commit).toBe(`${head} (with uncommitted changes)`)
    } finally {
      rmSync(checkout, {force: true, recursive: true})
    }
  })
})
