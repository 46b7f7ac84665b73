/** The command line of a benchmark script: `--quick`, flags with a value (`--rounds 3`), numbers with two defaults. */
export function scriptArgs(argv: readonly string[] = process.argv.slice(2)): {
  quick: boolean
  flag: (name: string) => string | undefined
  /** The flag's number, else `quickDefault` under --quick and `fullDefault` without. */
  number: (name: string, quickDefault: number, fullDefault?: number) => number
} {
  const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined)
  const quick = argv.includes('--quick')
  return {
    flag,
    number: (name, quickDefault, fullDefault = quickDefault) =>
      Number(flag(name) ?? (quick ? quickDefault : fullDefault)),
    quick,
  }
}

/** A line of progress on stderr: stdout stays for what a script is asked to print. */
export function log(line: string): void {
  process.stderr.write(`${line}\n`)
}
