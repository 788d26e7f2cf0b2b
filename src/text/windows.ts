import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { seededRandom } from '../util/random';
import type { TextTokenizer } from './tokenizer';

/** Plain text, or `.jsonl` with a `text` field per line (records joined by a blank line). */
export function readTextFile(file: string): string {
  if (!fs.existsSync(file)) throw new UserError(`${file}: text file not found`);
  const raw = fs.readFileSync(file, 'utf8');
  if (!file.endsWith('.jsonl')) return raw;
  const texts: string[] = [];
  raw.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      throw new UserError(`${path.basename(file)} line ${i + 1}: not valid JSON`);
    }
    const text = (rec as { text?: unknown }).text;
    if (typeof text !== 'string') throw new UserError(`${path.basename(file)} line ${i + 1}: no string field "text"`);
    texts.push(text);
  });
  return texts.join('\n\n');
}

/**
 * The whole text tokenized at once, without BOS (the WikiText protocol of SparseGPT, Wanda and FLAP, and of
 * the fixtures' reference perplexities).
 */
export function tokenizeFile(file: string, tok: TextTokenizer): number[] {
  const ids = tok.encode(readTextFile(file), { bos: false });
  const bad = ids.find((t) => t < 0 || t >= tok.vocabSize);
  if (bad !== undefined) throw new UserError(`tokenizer produced id ${bad} outside its vocabulary of ${tok.vocabSize}`);
  return ids;
}

/** Consecutive non-overlapping windows; the last partial window is dropped. */
export function consecutiveWindows(ids: number[], seqLen: number, maxWindows = Infinity): number[][] {
  const n = Math.min(Math.floor(ids.length / seqLen), maxWindows);
  if (n < 1) throw new UserError(`the text has ${ids.length} tokens, fewer than one window of ${seqLen}; use more text or a smaller --seq-len`);
  return Array.from({ length: n }, (_, w) => ids.slice(w * seqLen, (w + 1) * seqLen));
}

/** `count` windows at seeded random offsets (SparseGPT-style calibration samples). */
export function sampledWindows(ids: number[], seqLen: number, count: number, seed: number): number[][] {
  if (ids.length < seqLen + 1) throw new UserError(`the calibration text has ${ids.length} tokens, fewer than one window of ${seqLen}`);
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const start = Math.floor(rand() * (ids.length - seqLen));
    return ids.slice(start, start + seqLen);
  });
}

/** The default window length: the model's context, capped at 2048 (paper-spec §1.8). */
export function defaultSeqLen(maxPositions: number): number {
  return Math.min(maxPositions, 2048);
}
