import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {textPreprocessSchema} from '../config/schema.js'
import {InputError} from './input-error.js'
import {TextEncoder} from './text.js'

const fixtures = path.join(import.meta.dirname, 'fixtures')

// Made once by fixtures/make_text_reference.mjs with Hugging Face's Rust tokenizers (npm "tokenizers" 0.23.2).
const reference = JSON.parse(await readFile(path.join(fixtures, 'text-reference.json'), 'utf8')) as {
  vocab_size: number
  cases: Array<{
    text: string
    ids: number[]
    max_length: number
    padded: {input_ids: number[]; attention_mask: number[]; token_type_ids: number[]}
  }>
}
const tokenizer = {config: {}, json: JSON.parse(await readFile(path.join(fixtures, 'tokenizer.json'), 'utf8'))}

function encoder(options: Record<string, unknown>, maxLength: number) {
  return new TextEncoder(tokenizer, {
    maxLength,
    options: textPreprocessSchema.parse({tokenizer: 'tokenizer.json', ...options}),
  })
}

describe('text rows against the Rust tokenizers', () => {
  for (const c of reference.cases) {
    it(`"${c.text}" has the reference ids, mask and type ids at max_length ${c.max_length}`, () => {
      const rows = encoder({}, c.max_length).encode([c.text], 'text')
      expect(rows.inputIds).toEqual(c.padded.input_ids)
      expect(rows.attentionMask).toEqual(c.padded.attention_mask)
      expect(rows.tokenTypeIds).toEqual(c.padded.token_type_ids)
    })
    it(`"${c.text}" has the reference ids without truncation`, () => {
      const rows = encoder({padding: 'longest'}, 512).encode([c.text], 'text')
      expect(rows.inputIds).toEqual(c.ids)
    })
  }

  it('pads a batch to its longest row with padding: longest', () => {
    const texts = reference.cases.slice(0, 3).map((c) => c.text)
    const rows = encoder({padding: 'longest'}, 512).encode(texts, 'text')
    const longest = Math.max(...reference.cases.slice(0, 3).map((c) => c.ids.length))
    expect(rows).toMatchObject({length: longest, rows: 3})
    expect(rows.inputIds.slice(longest, longest + reference.cases[1]!.ids.length)).toEqual(reference.cases[1]!.ids)
  })

  it('refuses a text over max_length with 400 when truncation is off', () => {
    const long = reference.cases.find((c) => c.ids.length > c.max_length)!
    let error: unknown
    try {
      encoder({truncation: false}, long.max_length).encode(['fine', long.text], 'input "input_ids"')
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(InputError)
    expect(error).toMatchObject({statusCode: 400})
    expect((error as Error).message).toBe(
      `input "input_ids"[1]: the text is ${long.ids.length} tokens, over the maximum of ${long.max_length} (preprocess.text.max_length; truncation is off): send a shorter text`,
    )
  })

  it('knows the vocabulary size', () => {
    expect(encoder({}, 8).vocabularySize).toBe(reference.vocab_size)
  })
})
