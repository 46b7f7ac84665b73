/**
 * The image's server as the image runs it (the bundle's `server.cjs`: the Dockerfile's CMD, and what cluster.ts forks
 * there): the bundle of image-server.ts beside it (`server-code.cjs`), compiled with the V8 code cache the image's
 * build wrote (code-cache.ts). CommonJS both, so that the process starts without node's ES module loader.
 */
import {fileURLToPath} from 'node:url'

import {runWithCodeCache} from './code-cache.js'

const {exports} = runWithCodeCache(fileURLToPath(new URL('./server-code.cjs', import.meta.url)))
;(exports.start as () => void)()
