import * as Args from '@oclif/core/args'

/**
 * The DIR argument every model command takes. ignoreStdin: oclif would otherwise read piped standard input into the
 * first positional argument (`echo x | mlship build` would build the directory "x").
 */
export function modelDirArg(description = 'Directory with model.yaml (or the path of a model.yaml).') {
  return Args.string({default: '.', description, ignoreStdin: true})
}
