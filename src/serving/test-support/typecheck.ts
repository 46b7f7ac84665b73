import ts from 'typescript'

/**
 * The type errors of a TypeScript file as a strict page or client of a generated .d.ts would see them (ES modules,
 * bundler resolution), with the given standard libraries (add 'lib.dom.d.ts' for a browser page); [] when it compiles.
 */
export function typeErrors(file: string, lib: string[] = ['lib.es2022.d.ts']): string[] {
  const program = ts.createProgram([file], {
    lib,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    noEmit: true,
    // The generated .d.ts is checked too; TypeScript's own libraries are not.
    skipDefaultLibCheck: true,
    strict: true,
    target: ts.ScriptTarget.ES2022,
    types: [],
  })
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}
