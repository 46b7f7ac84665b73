import {serverAssetFiles, serverCommonJsEntryPoints, serverEntryPoints} from '../serving/entrypoints.js'

export interface ServerBundleInput {
  /** Output name (without .js) -> absolute source file. */
  entryPoints: Record<string, string>
  /** Output name (without .cjs) -> absolute source file, each bundled into one CommonJS file. */
  commonJsEntryPoints: Record<string, string>
  /** Files copied beside the bundle: name -> absolute source file. */
  extraFiles: Record<string, string>
}

/**
 * What the image's server is bundled from, as the serving app lists it (src/serving/entrypoints.ts): the process
 * entry and the inference worker (sources in a checkout, compiled files in an installed package), and Swagger UI's
 * assets for an offline /docs.
 */
export function serverBundleInput(): ServerBundleInput {
  return {
    commonJsEntryPoints: serverCommonJsEntryPoints(),
    entryPoints: serverEntryPoints(),
    extraFiles: serverAssetFiles(),
  }
}
