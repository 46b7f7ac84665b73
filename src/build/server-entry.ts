import {ExitCode, MlshipError} from '../errors.js'

/**
 * The serving app's entry points for the bundle (output name -> source file), from src/serving/entrypoints.ts.
 * Loaded lazily: building an image is the only thing that needs the serving sources as files.
 */
export async function serverEntryPoints(): Promise<Record<string, string>> {
  const specifier = '../serving/entrypoints.js'
  let mod: {serverEntryPoints?: () => Record<string, string> | Promise<Record<string, string>>}
  try {
    mod = (await import(specifier)) as typeof mod
  } catch (error) {
    throw new MlshipError('The serving app is not part of this mlship installation, so no image can be built.', {
      cause: error,
      code: 'SERVING_APP_MISSING',
      exitCode: ExitCode.unexpected,
    })
  }
  if (!mod.serverEntryPoints) throw new MlshipError('src/serving/entrypoints has no serverEntryPoints()', {code: 'SERVING_APP_MISSING'})
  return mod.serverEntryPoints()
}
