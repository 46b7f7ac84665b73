#!/usr/bin/env node
import module from 'node:module'

// Before anything is imported: Node 22.1+ then keeps what it compiles (oclif's hundreds of CommonJS files) in a cache
// on disk, and --version and validate take 12-15% less CPU on Node 22.13 (issue 22). Node 20 has no such cache.
module.enableCompileCache?.()

const {execute} = await import('@oclif/core/execute')
const {compiledCliOptions} = await import('../dist/cli-root.js')

// oclif rooted at dist/, where `npm run build` writes the command manifest (see src/cli-root.ts).
await execute({loadOptions: compiledCliOptions(new URL('../dist/', import.meta.url))})
