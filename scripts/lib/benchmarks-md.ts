/**
 * BENCHMARKS.md holds the current figures only, each section written by the script that measures it. A script calls
 * `writeBenchmarkSection` with its table; this replaces the section between its markers (or appends it), stamped with
 * the command, the commit, the machine and the date, so no figure is ever copied by hand.
 *
 *   <!-- bench:serving start -->
 *   ## Serving throughput
 *   ...
 *   <!-- bench:serving end -->
 *
 * From a shell script: `tsx scripts/write-bench-section.ts --id serving --title "..." --command "..." < body.md`.
 */
import {execFileSync} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

export interface BenchmarkSection {
  /** Stable id used in the markers: letters, digits and dashes. */
  id: string
  /** The section heading (without the leading ##). */
  title: string
  /** The command that reproduces the section, as a user types it. */
  command: string
  /** Markdown: the tables and the few sentences that say what they mean. */
  body: string
}

export interface RunStamp {
  commit: string
  date: string
  machine: string
}

const root = path.resolve(import.meta.dirname, '..', '..')

export function runStamp(now: Date = new Date(), checkout: string = root): RunStamp {
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {cwd: checkout, encoding: 'utf8'}).trim()
    // BENCHMARKS.md itself does not count: a run of several benchmarks rewrites it section by section, and what was
    // measured is the code, not the figures written so far.
    const dirty = execFileSync(
      'git',
      ['status', '--porcelain', '--untracked-files=no', '--', '.', ':(exclude)BENCHMARKS.md'],
      {cwd: checkout, encoding: 'utf8'},
    )
    if (dirty.trim()) commit += ' (with uncommitted changes)'
  } catch {
    // not a git checkout: the stamp says so
  }
  const cpus = os.cpus()
  const cpuModel = cpus[0]?.model.trim() ?? 'unknown CPU'
  const memGiB = Math.round(os.totalmem() / 2 ** 30)
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
  const machine = `${cpus.length} x ${cpuModel}, ${memGiB} GiB, ${os.platform()} ${os.release()}, Node ${process.version}, load average at start ${load}`
  return {commit, date: now.toISOString().replace(/\.\d+Z$/, 'Z'), machine}
}

export function renderSection(section: BenchmarkSection, stamp: RunStamp): string {
  if (!/^[a-z0-9-]+$/.test(section.id)) throw new Error(`benchmark section id "${section.id}": use a-z, 0-9 and -`)
  return [
    `<!-- bench:${section.id} start -->`,
    `## ${section.title}`,
    '',
    `Written by \`${section.command}\` on ${stamp.date}, commit \`${stamp.commit}\`; machine: ${stamp.machine}.`,
    '',
    section.body.trim(),
    `<!-- bench:${section.id} end -->`,
  ].join('\n')
}

/** Replaces the section with the same id in `text`, or appends it. Pure, for tests. */
export function replaceSection(text: string, id: string, rendered: string): string {
  const start = `<!-- bench:${id} start -->`
  const end = `<!-- bench:${id} end -->`
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from >= 0 && to > from) return text.slice(0, from) + rendered + text.slice(to + end.length)
  return `${text.trimEnd()}\n\n${rendered}\n`
}

export async function writeBenchmarkSection(
  section: BenchmarkSection,
  file = path.join(root, 'BENCHMARKS.md'),
): Promise<void> {
  let text = '# mlship benchmarks\n'
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await writeFile(file, replaceSection(text, section.id, renderSection(section, runStamp())))
  process.stderr.write(`BENCHMARKS.md: section "${section.title}" written\n`)
}

/** Median of a non-empty list (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of an empty list')
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A markdown table; numbers are printed as given, so format them first. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align?: string): string {
  const sep = align ?? header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')
  return [`| ${header.join(' | ')} |`, `| ${sep} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}
