import path from 'node:path'

/** Apart from load.ts (the YAML parser and zod), for what only needs the file's place: see checked-config.ts. */
export const CONFIG_FILE_NAME = 'model.yaml'

/** Resolves DIR (or a path to a model.yaml) to the model.yaml path. */
export function resolveConfigFile(dirOrFile: string): string {
  const absolute = path.resolve(dirOrFile)
  return /\.ya?ml$/i.test(absolute) ? absolute : path.join(absolute, CONFIG_FILE_NAME)
}
