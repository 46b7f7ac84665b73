import {statSync} from 'node:fs'
import {mkdir, readFile, rename, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {sha256File} from './hash.js'

export interface FileDigestsOptions {
  /** The cache folder (see cacheDir()); undefined: nothing is kept, every file is hashed. */
  dir: string | undefined
  /** Entries kept, the most recently used ones (default 20,000: about 2 MB of JSON). */
  maxEntries?: number
  /** Time as an input: when a digest was taken, to tell a racily modified file (default Date.now). */
  now?: () => number
}

interface Entry {
  sha256: string
  /** Last used, ms since the epoch: the oldest go first past maxEntries. */
  used: number
}

const FILE_NAME = 'file-digests.json'
// A file changed within this long of being hashed could change again within the same mtime tick, unseen: its digest
// is not kept (git's "racily clean" entries, handled the same way).
const RACY_MS = 2000

/**
 * sha256 of files, remembered across runs by what identifies a file's content without reading it: device, inode,
 * size and modification time (nanoseconds). The onnxruntime files of a build context (about 46 MB, hard links to
 * node_modules) and an unchanged model are then hashed once, not at every build.
 */
export class FileDigests {
  private entries = new Map<string, Entry>()
  private changed = false

  private constructor(private readonly options: FileDigestsOptions) {}

  /** Reads the cache (a missing or unreadable one is an empty cache). */
  static async open(options: FileDigestsOptions): Promise<FileDigests> {
    const digests = new FileDigests(options)
    if (options.dir) {
      try {
        const stored = JSON.parse(await readFile(path.join(options.dir, FILE_NAME), 'utf8')) as Record<string, Entry>
        digests.entries = new Map(Object.entries(stored).filter(([, e]) => typeof e?.sha256 === 'string'))
      } catch {
        // First use, or a file cut short by a crash: start over.
      }
    }
    return digests
  }

  /** The file's sha256 (hex). */
  async sha256(file: string): Promise<string> {
    const now = this.options.now ?? Date.now
    // Synchronous: a build asks for some 60 digests, nearly all remembered; a stat takes microseconds, an awaited one
    // a trip through libuv's thread pool.
    const before = statSync(file, {bigint: true})
    const key = `${before.dev}:${before.ino}:${before.size}:${before.mtimeNs}`
    const known = this.entries.get(key)
    if (known) {
      known.used = now()
      this.changed = true
      return known.sha256
    }
    const sha256 = await sha256File(file)
    const after = await stat(file, {bigint: true})
    const stable = after.mtimeNs === before.mtimeNs && after.size === before.size
    if (stable && now() - Number(after.mtimeMs) > RACY_MS) {
      this.entries.set(key, {sha256, used: now()})
      this.changed = true
    }
    return sha256
  }

  /** Writes the cache back (atomically: a concurrent build reads the old or the new file, never half of one). */
  async save(): Promise<void> {
    const {dir} = this.options
    if (!dir || !this.changed) return
    const max = this.options.maxEntries ?? 20_000
    const kept = [...this.entries].sort((a, b) => b[1].used - a[1].used).slice(0, max)
    try {
      await mkdir(dir, {recursive: true})
      const temporary = path.join(dir, `${FILE_NAME}.${process.pid}.${Date.now()}`)
      await writeFile(temporary, JSON.stringify(Object.fromEntries(kept)))
      await rename(temporary, path.join(dir, FILE_NAME))
      this.changed = false
    } catch {
      // A read-only home or a full disk: the next build hashes again, nothing worse.
    }
  }
}
