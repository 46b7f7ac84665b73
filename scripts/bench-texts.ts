/**
 * Where long texts are tokenised (issue 20), written to BENCHMARKS.md "Texts as inputs":
 *
 *   npm run bench:texts [-- --quick] [--rounds N] [--seconds S] [--json FILE]
 *
 * A text model (the token-echo test model: input_ids and attention_mask [batch, 12]) with a BERT-sized WordPiece
 * tokenizer.json (30,000 entries, made here, seeded), served in a child process as `serve --local` runs it. 8 clients
 * each send, again and again for S seconds, 8 texts of about 500 words in one request (tokenised in full, then cut to
 * the model's 12 tokens), while a probe in another process asks GET /health every 5 ms. Side by side in each round:
 * the server as it runs now (a request with 1 KiB of text or more is tokenised in a decode thread) and one without
 * decode threads (`largeBodies: false`: every text tokenised on the event loop, as before). Then the same with one
 * short text per request (a few words, below the threshold: tokenised on the event loop either way). Medians.
 */
import {copyFile, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {median, writeBenchmarkSection} from './lib/benchmarks-md.js'
import {log, scriptArgs} from './lib/script-args.js'
import {probeHealth, startChildServer} from './lib/child-server.js'
import {closedLoop, okAndFailed} from './lib/closed-loop.js'

const root = path.resolve(import.meta.dirname, '..')
const {flag, number, quick} = scriptArgs()
const rounds = number('--rounds', 1, 3)
const seconds = number('--seconds', 4, 10)
const jsonOut = flag('--json')
const CLIENTS = 8
const TEXTS_PER_REQUEST = 8
const WORDS = 500

type Mode = 'decode thread' | 'event loop'
type Load = 'long' | 'short'

/** A seeded generator (mulberry32): the same tokenizer and texts every run. */
function generator(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4_294_967_296) * n)
  }
}

/** The model folder: the token-echo model, a 30,000-entry WordPiece tokenizer.json, model.yaml. Returns some words. */
async function modelDir(dir: string): Promise<string[]> {
  const fixtures = path.join(root, 'src', 'serving', 'fixtures', 'preprocess', 'text')
  const tokenizer = JSON.parse(
    await readFile(path.join(root, 'src', 'preprocess', 'fixtures', 'tokenizer.json'), 'utf8'),
  ) as {model: {vocab: Record<string, number>}}
  const vocab = tokenizer.model.vocab
  const random = generator(20)
  const letters = 'abcdefghijklmnopqrstuvwxyz'
  const word = () => Array.from({length: 2 + random(8)}, () => letters[random(26)]).join('')
  let id = Object.keys(vocab).length
  for (const letter of letters) {
    vocab[letter] ??= id++
    vocab[`##${letter}`] ??= id++
  }
  const words: string[] = []
  while (id < 30_000) {
    const w = word()
    if (vocab[w] === undefined) {
      vocab[w] = id++
      words.push(w)
    }
    const piece = `##${word().slice(0, 4)}`
    if (vocab[piece] === undefined && id < 30_000) vocab[piece] = id++
  }
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer))
  await copyFile(path.join(fixtures, 'model.onnx'), path.join(dir, 'model.onnx'))
  const yaml = (await readFile(path.join(fixtures, 'model.yaml'), 'utf8')).replace(
    /tokenizer: .*/,
    'tokenizer: tokenizer.json',
  )
  await writeFile(path.join(dir, 'model.yaml'), yaml)
  // Texts: known words mostly, some unknown ones (split into ## pieces or [UNK]), and punctuation.
  return Array.from({length: 4000}, () => (random(4) ? words[random(words.length)]! : word()))
}

interface Run {
  mode: Mode
  load: Load
  textsPerSecond: number
  health: {p50_ms: number; p99_ms: number; max_ms: number}
  loop: {p99_ms: number; max_ms: number}
}

async function measure(dir: string, mode: Mode, load: Load, bodies: Buffer[], textsPerBody: number): Promise<Run> {
  const server = await startChildServer({
    dir,
    loopDelay: true,
    startOptions: `largeBodies: ${mode === 'decode thread' ? '{}' : 'false'}`,
  })
  try {
    const started = Date.now()
    const probe = probeHealth(server.url, seconds)
    const sent = await closedLoop({
      bodies,
      clients: CLIENTS,
      contentType: 'application/json',
      until: started + seconds * 1000,
      url: `${server.url}/predict`,
    })
    const {failed, ok} = okAndFailed(sent.statuses)
    const elapsed = (Date.now() - started) / 1000
    const {max_ms, p50_ms, p99_ms} = await probe
    if (failed > 0) throw new Error(`${mode}, ${load}: ${failed} requests failed`)
    const loop = (await server.stop())!
    return {health: {max_ms, p50_ms, p99_ms}, load, loop, mode, textsPerSecond: (ok * textsPerBody) / elapsed}
  } catch (error) {
    await server.stop().catch(() => undefined)
    throw error
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mlship-bench-texts-'))
  try {
    const words = await modelDir(dir)
    const text = (start: number, n: number) => `${words.slice(start, start + n).join(' ')}.`
    const longBodies = Array.from({length: 16}, (_, b) =>
      Buffer.from(
        JSON.stringify({
          inputs: {input_ids: Array.from({length: TEXTS_PER_REQUEST}, (_, t) => text((b * 7 + t * 13) % 3000, WORDS))},
        }),
      ),
    )
    const shortBodies = Array.from({length: 16}, (_, b) => Buffer.from(JSON.stringify({features: text(b * 11, 8)})))
    const longChars = text(0, WORDS).length
    log(`long: ${TEXTS_PER_REQUEST} texts of ${WORDS} words (~${longChars} characters) a request; short: 8 words`)
    const runs: Run[] = []
    for (let round = 1; round <= rounds; round++) {
      for (const load of ['long', 'short'] as const) {
        // Interleaved, so that a change in the machine's load falls on both modes alike.
        for (const mode of ['event loop', 'decode thread'] as const) {
          const run =
            load === 'long'
              ? await measure(dir, mode, load, longBodies, TEXTS_PER_REQUEST)
              : await measure(dir, mode, load, shortBodies, 1)
          log(
            `round ${round}, ${load} texts, ${mode}: ${run.textsPerSecond.toFixed(0)} texts/s; /health p50 ${run.health.p50_ms} ms, p99 ${run.health.p99_ms} ms, max ${run.health.max_ms} ms; event loop delay p99 ${run.loop.p99_ms} ms, max ${run.loop.max_ms} ms`,
          )
          runs.push(run)
        }
      }
    }
    if (jsonOut) await writeFile(jsonOut, JSON.stringify(runs, null, 2))

    const rows: string[] = []
    for (const load of ['long', 'short'] as const) {
      for (const [mode, label] of [
        ['event loop', 'on the event loop (before)'],
        ['decode thread', load === 'long' ? 'in a decode thread (now)' : 'on the event loop (now: below 1 KiB)'],
      ] as const) {
        const list = runs.filter((r) => r.load === load && r.mode === mode)
        const cell = (pick: (r: Run) => number, digits = 1) => median(list.map(pick)).toFixed(digits)
        rows.push(
          `| ${load === 'long' ? `${TEXTS_PER_REQUEST} x ${WORDS} words` : '1 x 8 words'} | ${label} | ${cell((r) => r.textsPerSecond, 0)} | ${cell((r) => r.health.p50_ms)} | ${cell((r) => r.health.p99_ms)} | ${cell((r) => r.loop.p99_ms)} | ${cell((r) => r.loop.max_ms)} |`,
        )
      }
    }
    const body = `
The token-echo test model with a BERT-sized WordPiece tokenizer.json (30,000 entries, made by the script, seeded),
served in a child process. ${CLIENTS} clients send requests of ${TEXTS_PER_REQUEST} texts of ${WORDS} words (about
${longChars} characters each, tokenised in full, then cut to the model's 12 tokens), or of one 8-word text, again and
again for ${seconds} s, while a probe in another process asks \`GET /health\` every 5 ms. The server as it runs now
(a request with 1 KiB of text or more is tokenised in a decode thread) beside one without decode threads (every text
tokenised on the event loop, as before); both side by side in each of ${rounds} round(s), medians of the rounds.

| texts per request | tokenised | texts/s | /health p50 ms | /health p99 ms | event loop delay p99 ms | event loop delay max ms |
| --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

The event loop delay is the server's own (perf_hooks.monitorEventLoopDelay): how long its event loop was blocked.
Tokenising is JavaScript (@huggingface/tokenizers); a short text costs the event loop less than handing it to a
thread would, so only requests with 1 KiB of text or more go (TEXT_THREAD_CHARS, src/serving/preprocessing.ts).
`
    await writeBenchmarkSection({
      body,
      command: `npm run bench:texts${quick ? ' -- --quick' : ''}`,
      id: 'texts',
      title: 'Texts as inputs: where they are tokenised (issue 20)',
    })
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
}

await main()
