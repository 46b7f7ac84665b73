import * as tokenizers from '@huggingface/tokenizers'

import type {TextPreprocess} from '../config/schema.js'
import {InputError} from './input-error.js'

/**
 * Text -> the token inputs of a model (input_ids, and attention_mask / token_type_ids where it has them), with a
 * Hugging Face tokenizer.json read by @huggingface/tokenizers (pure JavaScript: the server's threads and the browser
 * page run the same code). Truncation and padding follow the Rust library: the special tokens ([CLS] ... [SEP]) are
 * kept and the text's own tokens are cut to fit max_length; padding appends the pad token with mask 0.
 */

/**
 * The part of @huggingface/tokenizers' Tokenizer used here. Its published type declarations import their modules
 * without file extensions, which an ESM (NodeNext) project cannot resolve, so they are restated here.
 */
interface HfTokenizer {
  encode(
    text: string,
    options: {add_special_tokens?: boolean; return_token_type_ids?: boolean},
  ): {ids: number[]; attention_mask: number[]; token_type_ids?: number[]}
  token_to_id(token: string): number | undefined
  get_vocab(withAddedTokens?: boolean): Map<string, number>
}

const Tokenizer = (tokenizers as unknown as {Tokenizer: new (json: object, config: object) => HfTokenizer}).Tokenizer

/** A text input's declaration resolved against its signature. */
export interface TextPlan {
  /** The input that takes the token ids. */
  input: string
  attentionMask?: string
  tokenTypeIds?: string
  /** The element type of the ids (and of the mask inputs): int64 or int32. */
  dtype: 'int64' | 'int32'
  maskDtype: 'int64' | 'int32'
  typeIdsDtype: 'int64' | 'int32'
  maxLength: number
  options: TextPreprocess
}

export interface TokenizerFile {
  /** The parsed tokenizer.json. */
  json: Record<string, unknown>
  /** The parsed tokenizer_config.json beside it, or {}. */
  config: Record<string, unknown>
}

export interface EncodedRows {
  /** Rows x length, row-major. */
  inputIds: number[]
  attentionMask: number[]
  tokenTypeIds: number[]
  rows: number
  length: number
}

export class TextEncoder {
  private readonly tokenizer: HfTokenizer
  private readonly padId: number
  private readonly padTypeId: number
  private readonly prefix: number
  private readonly suffix: number

  constructor(
    file: TokenizerFile,
    private readonly plan: Pick<TextPlan, 'maxLength' | 'options'>,
  ) {
    this.tokenizer = new Tokenizer(file.json, file.config)
    const padding = file.json.padding as {pad_id?: number; pad_type_id?: number} | null | undefined
    this.padId = padding?.pad_id ?? this.tokenizer.token_to_id('[PAD]') ?? this.tokenizer.token_to_id('<pad>') ?? 0
    this.padTypeId = padding?.pad_type_id ?? 0
    // How many special tokens the post-processor puts before and after a text: found by encoding a probe both ways.
    const probe = 'a'
    const bare = this.tokenizer.encode(probe, {add_special_tokens: false}).ids
    const full = plan.options.add_special_tokens ? this.tokenizer.encode(probe, {}).ids : bare
    this.prefix = Math.max(0, indexOfRun(full, bare))
    this.suffix = full.length - this.prefix - bare.length
  }

  /** The vocabulary size, added tokens included (the rows an embedding table needs). */
  get vocabularySize(): number {
    let largest = -1
    for (const id of this.tokenizer.get_vocab(true).values()) largest = Math.max(largest, id)
    return largest + 1
  }

  /** The texts as rows of ids, truncated (or refused) and padded as the plan declares. */
  encode(texts: readonly string[], label: string): EncodedRows {
    const {maxLength, options} = this.plan
    const encoded = texts.map((text, row) => {
      const withSpecial = this.tokenizer.encode(text, {
        add_special_tokens: options.add_special_tokens,
        return_token_type_ids: true,
      })
      const encoding = {
        attention_mask: withSpecial.attention_mask,
        ids: withSpecial.ids,
        token_type_ids: withSpecial.token_type_ids ?? withSpecial.ids.map(() => 0),
      }
      if (encoding.ids.length <= maxLength) return encoding
      if (!options.truncation) {
        throw new InputError(
          400,
          `${label}${texts.length > 1 ? `[${row}]` : ''}: the text is ${encoding.ids.length} tokens, over the maximum of ${maxLength} (preprocess.text.max_length; truncation is off): send a shorter text`,
        )
      }
      // Keep the special tokens around the text and cut the text's own tokens, as the Rust library truncates.
      const keep = maxLength - this.prefix - this.suffix
      const cut = <T>(values: T[]) => [
        ...values.slice(0, this.prefix + Math.max(0, keep)),
        ...values.slice(values.length - this.suffix),
      ]
      return {
        attention_mask: cut(encoding.attention_mask),
        ids: cut(encoding.ids),
        token_type_ids: cut(encoding.token_type_ids),
      }
    })
    const length =
      options.padding === 'max_length' ? maxLength : Math.max(1, ...encoded.map((encoding) => encoding.ids.length))
    const rows = texts.length
    const inputIds = new Array<number>(rows * length).fill(this.padId)
    const attentionMask = new Array<number>(rows * length).fill(0)
    const tokenTypeIds = new Array<number>(rows * length).fill(this.padTypeId)
    encoded.forEach((encoding, row) => {
      const at = row * length
      for (let i = 0; i < encoding.ids.length; i++) {
        inputIds[at + i] = encoding.ids[i]!
        attentionMask[at + i] = encoding.attention_mask[i]!
        tokenTypeIds[at + i] = encoding.token_type_ids[i]!
      }
    })
    return {attentionMask, inputIds, length, rows, tokenTypeIds}
  }
}

function indexOfRun(haystack: readonly number[], needle: readonly number[]): number {
  outer: for (let start = 0; start + needle.length <= haystack.length; start++) {
    for (let i = 0; i < needle.length; i++) if (haystack[start + i] !== needle[i]) continue outer
    return start
  }
  return -1
}
