import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {describe, expect, it} from 'vitest'

import {compiledCliOptions} from './cli-root.js'

const packageRoot = path.resolve(import.meta.dirname, '..')

describe('compiledCliOptions', () => {
  it('roots oclif at dist/, with package.json and the commands folder relative to dist/', () => {
    const options = compiledCliOptions(path.join(packageRoot, 'dist'))

    expect(options.root).toBe(path.join(packageRoot, 'dist'))
    expect(options.pjson.name).toBe('mlship')
    expect(options.pjson.oclif.commands).toBe('./commands')
    expect(options.pjson.oclif.bin).toBe('mlship')
  })

  it('gives hooks relative to dist/, as oclif reads them from its root', () => {
    const options = compiledCliOptions(path.join(packageRoot, 'dist'))

    expect(options.pjson.oclif.hooks?.command_not_found).toEqual(['./hooks/command-not-found'])
  })

  it('takes the file URL that bin/run.js passes', () => {
    const options = compiledCliOptions(pathToFileURL(path.join(packageRoot, 'dist') + '/'))

    expect(options.root).toBe(path.join(packageRoot, 'dist'))
  })
})
