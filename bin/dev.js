#!/usr/bin/env -S node --require tsx/cjs --import tsx --no-warnings
// Runs the TypeScript sources directly (no build step): `./bin/dev.js validate examples/iris`.
import {execute} from '@oclif/core'

await execute({development: true, dir: import.meta.url})
