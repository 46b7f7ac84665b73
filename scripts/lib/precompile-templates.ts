/**
 * The Dockerfile template, precompiled at build time into dist/image/dockerfile-template.js (issue 22): compiling it
 * at run time cost `mlship build --print` about 90 ms of CPU, Handlebars' compiler running cold for one small
 * template. The module carries the SHA-256 of the source it was compiled from, and renderDockerfile() uses it only
 * for that exact source (templates/ edited without a rebuild is compiled at run time, as before).
 */
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {dockerfileTemplatePath, precompiledTemplateModule} from '../../src/image/dockerfile.js'

export const PRECOMPILED_DOCKERFILE = path.join('image', 'dockerfile-template.js')

/** Writes dist/image/dockerfile-template.js from templates/image/Dockerfile.hbs. */
export async function writePrecompiledTemplates(dist: string): Promise<void> {
  const source = await readFile(dockerfileTemplatePath(), 'utf8')
  await writeFile(path.join(dist, PRECOMPILED_DOCKERFILE), await precompiledTemplateModule(source))
}
