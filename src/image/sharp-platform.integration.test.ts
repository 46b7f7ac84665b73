/**
 * sharp's native files for a platform this installation lacks (linux/arm64 on an x64 machine): installed once by the
 * real npm, from its registry, into mlship's cache folder, then taken from there. Needs the npm registry (CI has it).
 */
import {mkdtemp, open, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {imageRuntimeFiles, npmSharpInstaller, type SharpPlatformInstaller} from './runtime-files.js'

/** The machine an ELF file is for (e_machine): 0xb7 is AArch64, 0x3e x86-64. */
async function elfMachine(file: string): Promise<number> {
  const handle = await open(file)
  try {
    const header = Buffer.alloc(20)
    await handle.read(header, 0, 20, 0)
    expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF')
    return header.readUInt16LE(18)
  } finally {
    await handle.close()
  }
}

// On an arm64 machine these files are mlship's own: nothing to install.
describe.skipIf(process.arch === 'arm64')("sharp's files for linux/arm64 on an x64 machine", () => {
  let cache: string
  beforeAll(async () => {
    cache = await mkdtemp(path.join(os.tmpdir(), 'mlship-sharp-arm64-'))
  })
  afterAll(() => rm(cache, {force: true, recursive: true}))

  it('are installed by npm into the cache once, and carried into the context from there', async () => {
    const calls: string[] = []
    const installer: SharpPlatformInstaller = async (options) => {
      calls.push(options.arch)
      await npmSharpInstaller(options)
    }
    const files = await imageRuntimeFiles('linux/arm64', {cacheDir: cache, installer})
    const addon = files.find((f) => /^runtime\/node_modules\/@img\/sharp-linux-arm64\/lib\/.*\.node$/.test(f.to))
    expect(addon).toBeDefined()
    expect(await elfMachine(addon!.from)).toBe(0xb7)
    expect(files.some((f) => f.to.startsWith('runtime/node_modules/@img/sharp-libvips-linux-arm64/lib/libvips'))).toBe(
      true,
    )
    expect(files.some((f) => f.to.includes('linux-x64'))).toBe(false)
    const again = await imageRuntimeFiles('linux/arm64', {cacheDir: cache, installer})
    expect(again.map((f) => f.to)).toEqual(files.map((f) => f.to))
    expect(calls).toEqual(['arm64'])
  }, 180_000)

  it('are refused with what to do when there is no cache folder, or npm cannot install them', async () => {
    await expect(imageRuntimeFiles('linux/arm64')).rejects.toMatchObject({
      code: 'RUNTIME_MISSING',
      exitCode: 2,
      message: expect.stringContaining('they are not installed here'),
    })
    // A cache "folder" that is a file: npm fails, and the message says so and gives the command.
    const notAFolder = path.join(cache, 'file')
    await writeFile(notAFolder, '')
    const error = await imageRuntimeFiles('linux/arm64', {cacheDir: notAFolder}).catch((error_: unknown) => error_)
    expect(error).toMatchObject({
      code: 'RUNTIME_MISSING',
      message: expect.stringContaining('npm could not install them'),
    })
    expect((error as {suggestions: string[]}).suggestions[0]).toContain('--os=linux --cpu=arm64 --libc=glibc sharp@')
  }, 120_000)
})
