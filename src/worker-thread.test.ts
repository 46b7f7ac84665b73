import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'
import type {Worker} from 'node:worker_threads'

import {describe, expect, it} from 'vitest'

import {startModuleWorker, withoutTypeScriptLoaders} from './worker-thread.js'

const ECHO = pathToFileURL(path.resolve(import.meta.dirname, '../test/fixtures/worker/echo-worker.ts'))

interface Echo {
  execArgv: string[]
  reply: string
  url: string
}

async function firstMessage(worker: Worker): Promise<Echo> {
  try {
    return await new Promise<Echo>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
  } finally {
    await worker.terminate()
  }
}

describe('startModuleWorker from TypeScript sources', () => {
  it('runs one JavaScript bundle of the module and its TypeScript imports, packages resolved from node_modules', async () => {
    const echo = await firstMessage(startModuleWorker(ECHO))
    expect(echo.reply).toBe('OK: TRUE!')
    // Not the .ts file through a loader registered in the worker (half a second of CPU per worker start).
    const file = fileURLToPath(echo.url)
    expect(file).toMatch(/node_modules[/\\]\.cache[/\\]mlship-workers[/\\]echo-worker-[0-9a-f]{16}\.mjs$/)
    expect(echo.execArgv.join(' ')).not.toMatch(/tsx/)
  })

  it('names the bundle by its contents, so starts share it', async () => {
    const [first, second] = await Promise.all([
      firstMessage(startModuleWorker(ECHO)),
      firstMessage(startModuleWorker(ECHO)),
    ])
    expect(second.url).toBe(first.url)
  })
})

describe('withoutTypeScriptLoaders', () => {
  it("drops tsx's --require and --import, in both spellings, and keeps every other flag", () => {
    expect(
      withoutTypeScriptLoaders([
        '--require',
        '/p/node_modules/tsx/dist/preflight.cjs',
        '--import',
        'file:///p/node_modules/tsx/dist/loader.mjs',
        '--import=tsx',
        '--enable-source-maps',
        '--import',
        './telemetry.mjs',
        '--max-old-space-size=512',
      ]),
    ).toEqual(['--enable-source-maps', '--import', './telemetry.mjs', '--max-old-space-size=512'])
  })

  it('leaves flags without a loader as they are', () => {
    expect(withoutTypeScriptLoaders(['--cpu-prof', '-r', 'dotenv/config'])).toEqual([
      '--cpu-prof',
      '-r',
      'dotenv/config',
    ])
  })
})
