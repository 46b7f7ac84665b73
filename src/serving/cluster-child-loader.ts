/**
 * The cluster layout's HTTP process as the image runs it (the bundle's `cluster-child.js`, which cluster.ts forks): the
 * bundle of cluster-child.ts, one CommonJS file beside it, compiled with the V8 code cache the image's build wrote
 * (code-cache.ts). From the sources and dist/, cluster.ts forks cluster-child itself.
 */
import {fileURLToPath} from 'node:url'

import {runWithCodeCache} from './code-cache.js'

runWithCodeCache(fileURLToPath(new URL('./cluster-child.cjs', import.meta.url)))
