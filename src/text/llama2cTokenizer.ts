// llama2.c tokenizer files (`tokenizer.bin`, `tok512.bin`) → a Hugging Face `tokenizer.json`, the usual Llama
// SentencePiece-BPE ("legacy") layout. Merges are derived from the vocabulary and scores the way transformers'
// SentencePiece converter does, which reproduces llama2.c's `encode()` (shared/fixtures/README.md §1).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../util/errors';

const SP = '\u2581';

export interface Llama2cVocab {
  pieces: string[];
  scores: number[];
}

export function readLlama2cVocab(file: string): Llama2cVocab {
  const buf = fs.readFileSync(file);
  const pieces: string[] = [];
  const scores: number[] = [];
  let o = 4;
  while (o < buf.length) {
    if (o + 8 > buf.length) throw new UserError(`${path.basename(file)}: truncated llama2.c tokenizer file`);
    scores.push(buf.readFloatLE(o));
    const n = buf.readInt32LE(o + 4);
    o += 8;
    if (n < 0 || o + n > buf.length) throw new UserError(`${path.basename(file)}: not a llama2.c tokenizer file`);
    pieces.push(buf.subarray(o, o + n).toString('utf8'));
    o += n;
  }
  return { pieces, scores };
}

const special = (id: number, content: string) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

export function llama2cToTokenizerJson(v: Llama2cVocab): { tokenizer: object; config: object } {
  const toks = v.pieces.map((p, i) => (i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : p.replaceAll(' ', SP)));
  const vocab: Record<string, number> = {};
  toks.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i;
  });
  const merges: { l: string; r: string; score: number; order: number }[] = [];
  toks.forEach((piece, id) => {
    if (id < 259 || vocab[piece] !== id) return; // specials and byte pieces never split
    const local: { l: string; r: string }[] = [];
    const chars = Array.from(piece);
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join('');
      const r = chars.slice(k).join('');
      if (l in vocab && r in vocab) local.push({ l, r });
    }
    local.sort((a, b) => vocab[a.l] - vocab[b.l] || vocab[a.r] - vocab[b.r]);
    for (const m of local) merges.push({ ...m, score: v.scores[id], order: merges.length });
  });
  merges.sort((a, b) => b.score - a.score || a.order - b.order);
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SP },
        { type: 'Replace', pattern: { String: ' ' }, content: SP },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SP }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: merges.map((m) => `${m.l} ${m.r}`),
    },
  };
  const added = Object.fromEntries(
    [
      [0, '<unk>'],
      [1, '<s>'],
      [2, '</s>'],
    ].map(([i, c]) => {
      const { id: _, ...rest } = special(i as number, c as string);
      return [String(i), rest];
    }),
  );
  const config = {
    add_bos_token: true,
    add_eos_token: false,
    added_tokens_decoder: added,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    clean_up_tokenization_spaces: false,
    legacy: true,
    spaces_between_special_tokens: false,
    sp_model_kwargs: {},
    tokenizer_class: 'LlamaTokenizer',
  };
  return { tokenizer, config };
}
