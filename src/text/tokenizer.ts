import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { UserError } from '../util/errors';
import { llama2cToTokenizerJson, readLlama2cVocab } from './llama2cTokenizer';

export interface TextTokenizer {
  /** Ids of `text`; `bos` puts the tokenizer's BOS in front (as its post-processor says). */
  encode(text: string, opts: { bos: boolean }): number[];
  decode(ids: number[]): string;
  vocabSize: number;
  /** The file(s) the tokenizer came from, for messages and reports. */
  source: string;
  /** The Hugging Face files, to copy into an exported model folder. */
  files: { tokenizer: object; config: object };
}

function fromJson(tokenizer: object, config: object, source: string): TextTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizer, config);
  } catch (e) {
    // The library refuses a JSON that is not a tokenizer (fields missing): the file is at fault, not our code.
    throw new UserError(
      `${source}: not a tokenizer this tool can read (${e instanceof Error ? e.message : e}); pass a Hugging Face tokenizer.json or a llama2.c tokenizer .bin`,
    );
  }
  const model = (tokenizer as { model?: { vocab?: Record<string, number> | unknown[] } }).model;
  const added = (tokenizer as { added_tokens?: { id: number }[] }).added_tokens ?? [];
  const vocabIds = model?.vocab
    ? Array.isArray(model.vocab)
      ? model.vocab.length
      : Math.max(...Object.values(model.vocab)) + 1
    : 0;
  return {
    encode: (text, opts) => tok.encode(text, { add_special_tokens: opts.bos }).ids,
    decode: (ids) => tok.decode(ids, { skip_special_tokens: true }),
    vocabSize: Math.max(vocabIds, ...added.map((a) => a.id + 1)),
    source,
    files: { tokenizer, config },
  };
}

function readJsonFile(file: string): object {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as object;
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${e instanceof Error ? e.message : e})`);
  }
}

/** A tokenizer from a `tokenizer.json` (with `tokenizer_config.json` beside it) or a llama2.c tokenizer `.bin`. */
export function loadTokenizerFile(file: string): TextTokenizer {
  if (!fs.existsSync(file)) throw new UserError(`${file}: tokenizer file not found`);
  if (file.endsWith('.json')) {
    const dir = path.dirname(file);
    const base = path.basename(file).replace(/tokenizer\.json$/, '');
    const cfgFile = [path.join(dir, `${base}tokenizer_config.json`), path.join(dir, 'tokenizer_config.json')].find(
      (f) => fs.existsSync(f),
    );
    return fromJson(readJsonFile(file), cfgFile ? readJsonFile(cfgFile) : {}, file);
  }
  const { tokenizer, config } = llama2cToTokenizerJson(readLlama2cVocab(file));
  return fromJson(tokenizer, config, file);
}

/**
 * The tokenizer of a model: `tokenizer.json` beside it, or for a llama2.c checkpoint any tokenizer file beside it
 * whose vocabulary matches the model's. A vocabulary of the wrong size is refused: its ids would index the
 * wrong embeddings.
 */
export function loadModelTokenizer(modelPath: string, vocab: number, explicit?: string): TextTokenizer {
  const dir = path.dirname(path.resolve(modelPath));
  if (explicit) return checkVocab(loadTokenizerFile(explicit), vocab);
  const hf = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(hf)) return checkVocab(loadTokenizerFile(hf), vocab);
  const candidates = fs
    .readdirSync(dir)
    .filter(
      (f) =>
        /tok.*\.(json|bin)$/.test(f) && !f.endsWith('config.json') && path.join(dir, f) !== path.resolve(modelPath),
    );
  for (const f of candidates) {
    try {
      const t = loadTokenizerFile(path.join(dir, f));
      if (t.vocabSize === vocab) return t;
    } catch {
      // not a tokenizer: keep looking
    }
  }
  throw new UserError(
    `no tokenizer found for ${path.basename(modelPath)} (vocab ${vocab}): put tokenizer.json beside it or pass --tokenizer <tokenizer.json|tokenizer.bin>`,
  );
}

function checkVocab(t: TextTokenizer, vocab: number): TextTokenizer {
  if (t.vocabSize !== vocab) {
    throw new UserError(
      `tokenizer ${path.basename(t.source)} has ${t.vocabSize} tokens but the model's vocabulary is ${vocab}; they do not belong together (pass the right --tokenizer)`,
    );
  }
  return t;
}
