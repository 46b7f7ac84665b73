import {constants as fsConstants} from 'node:fs'
import {access} from 'node:fs/promises'

import type {Browser, BrowserContextOptions, Page} from 'playwright-core'

import {errorMessage, ExitCode, MlshipError} from '../errors.js'

/** Debian's package (`apt-get install chromium`); MLSHIP_CHROMIUM names another executable. */
export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium'

/**
 * Flags for a quiet, offline, headless Chromium: no sandbox (it runs as root in CI and in containers), no GPU (there
 * is none; WebGPU then reports itself unavailable), and nothing that reaches the network on its own (updates, sync,
 * field trials, first-run pages), so a page sees only the servers it is pointed at.
 */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
] as const

/** The Chromium executable mlship drives: MLSHIP_CHROMIUM when set, else Debian's /usr/bin/chromium. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const override = env.MLSHIP_CHROMIUM?.trim()
  return override ? override : DEFAULT_CHROMIUM_PATH
}

export interface LaunchChromiumOptions {
  /** The executable; chromiumPath(env) when absent. mlship never downloads a browser. */
  executablePath?: string
  env?: NodeJS.ProcessEnv
  /** Flags added after CHROMIUM_FLAGS (for example --enable-unsafe-webgpu). */
  extraArgs?: string[]
  /** How long the launch may take (ms). */
  timeoutMs?: number
}

/** A headless Chromium: pages to drive, and one close() that ends the browser process. */
export interface HeadlessChromium {
  readonly executablePath: string
  /** Chromium's version, e.g. "156.0.8078.114". */
  readonly version: string
  /** A page in a context of its own (cookies, storage and cache not shared with other pages). */
  newPage(options?: BrowserContextOptions): Promise<Page>
  close(): Promise<void>
}

/**
 * Launches Chromium headless through playwright-core, from an executable already on this machine. A missing
 * executable is a user-fixable error that says how to install one; a browser that does not start reports why.
 */
export async function launchChromium(options: LaunchChromiumOptions = {}): Promise<HeadlessChromium> {
  const executablePath = options.executablePath ?? chromiumPath(options.env)
  const {chromium} = await import('playwright-core')
  await assertExecutable(executablePath)
  let browser: Browser
  try {
    browser = await chromium.launch({
      args: [...CHROMIUM_FLAGS, ...(options.extraArgs ?? [])],
      executablePath,
      headless: true,
      timeout: options.timeoutMs ?? 30_000,
    })
  } catch (error) {
    throw new MlshipError(`Chromium at ${executablePath} did not start: ${firstLine(errorMessage(error))}`, {
      cause: error,
      code: 'BROWSER_LAUNCH_FAILED',
      details: {executablePath},
      exitCode: ExitCode.usage,
      suggestions: [
        `Check that it runs: ${executablePath} --headless --no-sandbox --dump-dom about:blank`,
        'Set MLSHIP_CHROMIUM to another Chromium or Chrome executable.',
      ],
    })
  }
  return {
    close: () => browser.close(),
    executablePath,
    newPage: (contextOptions) => browser.newPage(contextOptions),
    version: browser.version(),
  }
}

async function assertExecutable(executablePath: string): Promise<void> {
  try {
    await access(executablePath, fsConstants.X_OK)
  } catch {
    throw new MlshipError(`No Chromium at ${executablePath}: this command runs the model in a headless browser.`, {
      code: 'BROWSER_MISSING',
      details: {executablePath},
      exitCode: ExitCode.usage,
      suggestions: [
        'On Debian or Ubuntu: apt-get install -y chromium (scripts/test-browser.sh does it for the tests).',
        'Or set MLSHIP_CHROMIUM to a Chromium or Chrome executable. mlship never downloads a browser.',
      ],
    })
  }
}

function firstLine(message: string): string {
  return message.split('\n').find((line) => line.trim() !== '') ?? message
}
