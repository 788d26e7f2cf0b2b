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
  raw.split('\n').forEach((line, i) => texts.push(...jsonlRecord(file, line, i + 1)));
  return texts.join('\n\n');
}

/** The `text` of one `.jsonl` line (none for a blank line). */
function jsonlRecord(file: string, line: string, lineNo: number): string[] {
  if (!line.trim()) return [];
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    throw new UserError(`${path.basename(file)} line ${lineNo}: not valid JSON`);
  }
  const text = (rec as { text?: unknown }).text;
  if (typeof text !== 'string') throw new UserError(`${path.basename(file)} line ${lineNo}: no string field "text"`);
  return [text];
}

function checkIds(ids: number[], tok: TextTokenizer): number[] {
  const bad = ids.find((t) => t < 0 || t >= tok.vocabSize);
  if (bad !== undefined) throw new UserError(`tokenizer produced id ${bad} outside its vocabulary of ${tok.vocabSize}`);
  return ids;
}

/**
 * The whole text tokenized at once, without BOS (the WikiText protocol of SparseGPT, Wanda and FLAP, and of
 * the fixtures' reference perplexities).
 */
export function tokenizeFile(file: string, tok: TextTokenizer): number[] {
  return checkIds(tok.encode(readTextFile(file), { bos: false }), tok);
}

/** A prefix of a text file's text (as `readTextFile` gives it), cut just before a line end unless it is the whole text. */
interface TextPrefix {
  text: string;
  whole: boolean;
  /** Its length in the reader's units (bytes of a plain file, characters of `.jsonl` text). */
  units: number;
}

/** Bytes read ahead past the asked length, so that the next line end is usually already there. */
const READ_AHEAD = 1 << 16;

/** Growing prefixes of a plain text file: only the bytes asked for (to the next line end) are read. */
function plainPrefixes(file: string): (min: number) => TextPrefix {
  let size = fs.statSync(file).size;
  let buf = Buffer.alloc(0);
  const readTo = (end: number) => {
    end = Math.min(end, size);
    if (end <= buf.length) return;
    const next = Buffer.alloc(end);
    buf.copy(next);
    const fd = fs.openSync(file, 'r');
    try {
      let done = buf.length;
      while (done < end) {
        const n = fs.readSync(fd, next, done, Math.min(end - done, 1 << 30), done);
        if (n <= 0) break; // the file shrank: what was read is the text
        done += n;
      }
      if (done < end) size = done;
      buf = next.subarray(0, done);
    } finally {
      fs.closeSync(fd);
    }
  };
  return (min) => {
    for (let ahead = READ_AHEAD; ; ahead *= 2) {
      readTo(min + ahead);
      if (buf.length >= size) return { text: buf.toString('utf8'), whole: true, units: buf.length };
      // 0x0A never occurs inside a multi-byte UTF-8 sequence: the cut decodes to a prefix of the whole text.
      const cut = buf.indexOf(0x0a, min);
      if (cut >= 0) return { text: buf.toString('utf8', 0, cut), whole: false, units: cut };
    }
  };
}

/** Growing prefixes of a `.jsonl` file's joined text: lines are read and parsed only as far as needed. */
function jsonlPrefixes(file: string): (min: number) => TextPrefix {
  const texts: string[] = [];
  let chars = 0; // length of texts.join('\n\n')
  let lineNo = 0;
  let partial: Buffer[] = []; // the bytes of a line not yet ended
  let position = 0;
  let eof = false;
  const chunk = Buffer.alloc(1 << 20);
  const addLine = (bytes: Buffer) => {
    for (const t of jsonlRecord(file, bytes.toString('utf8'), ++lineNo)) {
      chars += (texts.length ? 2 : 0) + t.length;
      texts.push(t);
    }
  };
  const readMore = () => {
    const fd = fs.openSync(file, 'r');
    let n: number;
    try {
      n = fs.readSync(fd, chunk, 0, chunk.length, position);
    } finally {
      fs.closeSync(fd);
    }
    position += n;
    if (n === 0) {
      eof = true;
      addLine(Buffer.concat(partial)); // the last line, without a line end
      return;
    }
    let from = 0;
    for (let nl = chunk.indexOf(0x0a, 0); nl >= 0 && nl < n; nl = chunk.indexOf(0x0a, from)) {
      addLine(Buffer.concat([...partial, chunk.subarray(from, nl)]));
      partial = [];
      from = nl + 1;
    }
    if (from < n) partial.push(Buffer.from(chunk.subarray(from, n)));
  };
  return (min) => {
    while (!eof && chars < min) readMore();
    const joined = texts.join('\n\n');
    if (eof) return { text: joined, whole: true, units: joined.length };
    const cut = joined.indexOf('\n', min);
    // Without a line end past `min`, the records read so far are themselves a prefix ending at a line end.
    return cut >= 0
      ? { text: joined.slice(0, cut), whole: false, units: cut }
      : { text: joined, whole: false, units: joined.length };
  };
}

/** Tokens a prefix must give beyond the `n` kept: only tokens near its cut can differ from the whole text's. */
const PREFIX_MARGIN = 64;
/** First guess of text bytes per token (Llama-family tokenizers on English text: about 3.7–4.5). */
const BYTES_PER_TOKEN_GUESS = 4;

/**
 * The first `n` token ids of the whole text (all of them when it has fewer), without tokenizing more of it than
 * that needs: a prefix of the text, cut at a line end, is tokenized and trusted once it gives at least
 * `n + PREFIX_MARGIN` tokens (tokenization only differs near the cut); otherwise a longer prefix, sized from the
 * bytes per token seen, is tried. `n = Infinity` tokenizes the whole text (`tokenizeFile`). A `.jsonl` file is
 * parsed only as far as it is read, so a malformed line further on is not reported.
 */
export function tokenizePrefix(file: string, tok: TextTokenizer, n: number): number[] {
  if (!(n < Infinity)) return tokenizeFile(file, tok);
  if (!fs.existsSync(file)) throw new UserError(`${file}: text file not found`);
  const prefix = file.endsWith('.jsonl') ? jsonlPrefixes(file) : plainPrefixes(file);
  const want = Math.max(0, Math.ceil(n)) + PREFIX_MARGIN;
  let size = Math.max(4096, want * BYTES_PER_TOKEN_GUESS);
  for (;;) {
    const p = prefix(size);
    const ids = tok.encode(p.text, { bos: false });
    if (p.whole || ids.length >= want) return checkIds(ids.length > n ? ids.slice(0, Math.max(0, n)) : ids, tok);
    size = Math.max(Math.ceil(size * 1.25), Math.ceil((want / Math.max(ids.length, 1)) * p.units * 1.1));
  }
}

/** Tokens `consecutiveWindows(ids, seqLen, maxWindows)` can use: Infinity (the whole text) without a limit. */
export function windowTokens(seqLen: number, maxWindows?: number): number {
  return maxWindows === undefined || !Number.isFinite(maxWindows) ? Infinity : maxWindows * seqLen;
}

/** Consecutive non-overlapping windows; the last partial window is dropped. */
export function consecutiveWindows(ids: number[], seqLen: number, maxWindows = Infinity): number[][] {
  const n = Math.min(Math.floor(ids.length / seqLen), maxWindows);
  if (n < 1)
    throw new UserError(
      `the text has ${ids.length} tokens, fewer than one window of ${seqLen}; use more text or a smaller --seq-len`,
    );
  return Array.from({ length: n }, (_, w) => ids.slice(w * seqLen, (w + 1) * seqLen));
}

/** The first `maxWindows` consecutive windows of a text file (all of them without a count), tokenized only that far. */
export function textWindows(file: string, tok: TextTokenizer, seqLen: number, maxWindows?: number): number[][] {
  return consecutiveWindows(tokenizePrefix(file, tok, windowTokens(seqLen, maxWindows)), seqLen, maxWindows);
}

/** How many times the tokens of the asked windows `sampledWindows` draws from (see there). */
export const SAMPLE_POOL_FACTOR = 16;

/** Tokens `sampledWindows(ids, seqLen, count, ·)` draws from at most: the prefix of the text worth tokenizing for it. */
export function sampledPoolTokens(seqLen: number, count: number): number {
  return SAMPLE_POOL_FACTOR * count * seqLen;
}

/**
 * `count` windows at seeded random offsets (SparseGPT-style calibration samples). The offsets are drawn over the
 * first `sampledPoolTokens(seqLen, count)` tokens (16× the tokens asked for), not over a text of any length: so
 * only that prefix of a large corpus needs tokenizing (`tokenizePrefix`), and the windows are the same whether
 * `ids` holds the whole text or just that prefix. A text shorter than the pool is sampled whole, as before.
 */
export function sampledWindows(ids: number[], seqLen: number, count: number, seed: number): number[][] {
  if (ids.length < seqLen + 1)
    throw new UserError(
      `the calibration text has ${ids.length} tokens, fewer than one window of ${seqLen}; use more text or a smaller --seq-len`,
    );
  const pool = Math.min(ids.length, sampledPoolTokens(seqLen, count));
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const start = Math.floor(rand() * (pool - seqLen));
    return ids.slice(start, start + seqLen);
  });
}

/** The default window length: the model's context, capped at 2048 (paper-spec §1.8). */
export function defaultSeqLen(maxPositions: number): number {
  return Math.min(maxPositions, 2048);
}
