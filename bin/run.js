#!/usr/bin/env node
import {execute} from '@oclif/core/execute'

import {compiledCliOptions} from '../dist/cli-root.js'

// oclif rooted at dist/, where `npm run build` writes the command manifest (see src/cli-root.ts).
await execute({loadOptions: compiledCliOptions(new URL('../dist/', import.meta.url))})
