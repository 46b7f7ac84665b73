import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {afterEach, beforeEach} from 'vitest'

/** A fresh folder under the system's temporary folder for each test of the file, removed after it: `dir()` names it. */
export function workDirPerTest(prefix: string): () => string {
  let dir: string | undefined
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), prefix))
  })
  afterEach(async () => {
    if (dir) await rm(dir, {force: true, recursive: true})
  })
  return () => dir!
}
