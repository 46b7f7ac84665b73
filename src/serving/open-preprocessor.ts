import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {ConfigError, errorMessage} from '../errors.js'
import {sharpImageDecoder} from '../preprocess/image-decode.js'
import type {PreprocessPlan} from '../preprocess/plan.js'
import type {TextEncoder, TokenizerFile} from '../preprocess/text.js'
import type {DecodeLimits} from './decode.js'
import {InputPreprocessor} from './preprocessing.js'

/**
 * The server's preprocessor of a plan: sharp loaded when the plan has images, each tokenizer.json (relative to
 * `modelDir`) read when it has texts. Apart from preprocessing.ts, which the web page bundles and which must not
 * import the file system or sharp.
 */
export async function openInputPreprocessor(
  plan: PreprocessPlan,
  options: {modelDir: string; limits: DecodeLimits},
): Promise<InputPreprocessor> {
  const decoder = plan.images.length > 0 ? await sharpImageDecoder() : undefined
  const encoders = new Map<string, TextEncoder>()
  if (plan.texts.length > 0) {
    // @huggingface/tokenizers is imported only by models with text inputs (start-up of every other command).
    const {TextEncoder} = await import('../preprocess/text.js')
    for (const text of plan.texts) {
      const file = await readTokenizer(path.resolve(options.modelDir, text.options.tokenizer), text.input)
      encoders.set(text.input, new TextEncoder(file, text))
    }
  }
  return new InputPreprocessor(plan, options.limits, decoder, encoders)
}

/** A tokenizer.json and the tokenizer_config.json beside it (optional), parsed. */
export async function readTokenizer(file: string, input: string): Promise<TokenizerFile> {
  let json: Record<string, unknown>
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
  } catch (error) {
    throw new ConfigError(`input "${input}": cannot read the tokenizer ${file}: ${errorMessage(error)}`, {
      details: {file},
      suggestions: ['Put the tokenizer.json of the model beside model.yaml and name it in preprocess.text.tokenizer.'],
    })
  }
  let config: Record<string, unknown> = {}
  try {
    config = JSON.parse(await readFile(path.join(path.dirname(file), 'tokenizer_config.json'), 'utf8')) as Record<
      string,
      unknown
    >
  } catch {
    // tokenizer_config.json is optional: the tokenizer.json alone says how to tokenise.
  }
  return {config, json}
}
