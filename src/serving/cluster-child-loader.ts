/**
 * The cluster layout's HTTP process as the image runs it (the bundle's `cluster-child.cjs`, which cluster.ts forks):
 * the bundle of cluster-child.ts beside it (`cluster-child-code.cjs`), compiled with the V8 code cache the image's
 * build wrote (code-cache.ts). CommonJS both, so that the process starts without node's ES module loader. From the
 * sources and dist/, cluster.ts forks cluster-child itself.
 */
import {fileURLToPath} from 'node:url'

import {runWithCodeCache} from './code-cache.js'

runWithCodeCache(fileURLToPath(new URL('./cluster-child-code.cjs', import.meta.url)))
