import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ExitCode} from '../errors.js'
import {chromiumPath, DEFAULT_CHROMIUM_PATH, launchChromium} from './chromium.js'

describe('chromiumPath', () => {
  it("is Debian's /usr/bin/chromium unless MLSHIP_CHROMIUM names another executable", () => {
    expect(chromiumPath({})).toBe(DEFAULT_CHROMIUM_PATH)
    expect(chromiumPath({MLSHIP_CHROMIUM: '  '})).toBe(DEFAULT_CHROMIUM_PATH)
    expect(chromiumPath({MLSHIP_CHROMIUM: '/opt/chrome/chrome'})).toBe('/opt/chrome/chrome')
  })
})

describe('launchChromium without a browser', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-chromium-'))
  })
  afterAll(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  it('names the path it looked at and how to install Chromium (exit 2), and downloads nothing', async () => {
    const missing = path.join(dir, 'no-such-chromium')
    const error = await launchChromium({env: {MLSHIP_CHROMIUM: missing}}).catch((error_: unknown) => error_)
    expect(error).toMatchObject({code: 'BROWSER_MISSING', exitCode: ExitCode.usage})
    expect((error as Error).message).toContain(missing)
    expect((error as {suggestions: string[]}).suggestions.join('\n')).toContain('apt-get install -y chromium')
  })

  it('refuses a file that is not executable the same way', async () => {
    const notExecutable = path.join(dir, 'chromium.txt')
    await writeFile(notExecutable, 'not a browser', {mode: 0o644})
    await expect(launchChromium({executablePath: notExecutable})).rejects.toMatchObject({code: 'BROWSER_MISSING'})
  })

  it('reports a browser that does not start with its own first line of error', async () => {
    const broken = path.join(dir, 'broken-chromium')
    await writeFile(broken, '#!/bin/sh\necho "this is not chromium" >&2\nexit 3\n', {mode: 0o755})
    const error = await launchChromium({executablePath: broken, timeoutMs: 10_000}).catch((error_: unknown) => error_)
    expect(error).toMatchObject({code: 'BROWSER_LAUNCH_FAILED', exitCode: ExitCode.usage})
    expect((error as Error).message).toContain(broken)
  })
})
