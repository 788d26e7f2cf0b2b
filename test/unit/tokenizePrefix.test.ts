// Tokenizing only the prefix of a text that is used gives exactly the whole text's first tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTokenizerFile, type TextTokenizer } from '../../src/text/tokenizer';
import {
  consecutiveWindows,
  readTextFile,
  sampledPoolTokens,
  sampledWindows,
  tokenizeFile,
  tokenizePrefix,
  windowTokens,
} from '../../src/text/windows';
import { calibrationTokens } from '../../src/job/context';
import { seededRandom } from '../../src/util/random';
import { demoText, fixture, texts } from '../fixtures';

const tok512 = loadTokenizerFile(fixture('llama2c', 'tok512.bin'));

/** The tokenizer, recording the length of every text it is given. */
function recording(tok: TextTokenizer): TextTokenizer & { lengths: number[] } {
  const lengths: number[] = [];
  return { ...tok, lengths, encode: (text, o) => (lengths.push(text.length), tok.encode(text, o)) };
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokenize-prefix-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Whole-text tokenizations with tok512, computed once (each takes seconds). */
const wholeIds = new Map<string, number[]>();
const tokenizedWhole = (file: string) =>
  wholeIds.get(file) ?? wholeIds.set(file, tokenizeFile(file, tok512)).get(file)!;

// n past the end (-1: whole length − 1, -2: whole length + 1000) costs a whole tokenization each: only for the first.
const cases: [string, string, () => TextTokenizer, number[]][] = [
  ['TinyStories validation, tok512', texts.tinyStoriesValid, () => tok512, [0, 1, 255, 4096, 65536, 200_000, -1, -2]],
  ['WikiText-2 test, tok512', texts.wikitext2, () => tok512, [1, 2048, 30_000, 300_000]],
  [
    'TinyStories validation, Llama 2 tokenizer',
    texts.tinyStoriesValid,
    () => loadTokenizerFile(fixture('llama2c', 'tokenizer.bin')),
    [1, 2048, 50_000],
  ],
];

for (const [label, file, tokenizer, ns] of cases) {
  test(`tokenizePrefix: ${label}: the first n ids of the whole text, for several n`, () => {
    const tok = tokenizer();
    const whole = tok === tok512 ? tokenizedWhole(file) : tokenizeFile(file, tok);
    for (const n of ns.map((v) => (v === -1 ? whole.length - 1 : v === -2 ? whole.length + 1000 : v))) {
      const rec = recording(tok);
      const ids = tokenizePrefix(file, rec, n);
      assert.equal(ids.length, Math.min(n, whole.length), `n = ${n}`);
      assert.ok(
        ids.every((v, i) => v === whole[i]),
        `n = ${n}: ids differ from the whole text's`,
      );
      // Small n read and tokenize a small prefix only.
      if (n <= 4096) assert.ok(Math.max(...rec.lengths) < 64 * 1024, `n = ${n}: tokenized ${rec.lengths} characters`);
    }
  });
}

test('tokenizePrefix: a .jsonl file is read record by record, with the same ids as its whole joined text', (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'wiki.jsonl');
  const wiki = readTextFile(texts.wikitext2);
  // Records are joined by a blank line: splitting there gives back the same text. Blank lines between records are skipped.
  const lines = wiki
    .split('\n\n')
    .flatMap((text, i) => (i % 50 === 7 ? ['', JSON.stringify({ text, id: i })] : [JSON.stringify({ text })]));
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  assert.equal(readTextFile(file), wiki);
  const whole = tokenizedWhole(texts.wikitext2);
  for (const n of [1, 5000, 100_000, whole.length + 1]) {
    const rec = recording(tok512);
    const ids = tokenizePrefix(file, rec, n);
    assert.equal(ids.length, Math.min(n, whole.length));
    assert.ok(
      ids.every((v, i) => v === whole[i]),
      `n = ${n}`,
    );
    if (n <= 5000) assert.ok(Math.max(...rec.lengths) < 64 * 1024);
  }
  // Lines are parsed only as far as read: a bad line at the end is found by a whole read, not by a short prefix.
  fs.appendFileSync(file, 'not json\n');
  assert.throws(() => tokenizeFile(file, tok512), /wiki\.jsonl line \d+: not valid JSON/);
  assert.equal(tokenizePrefix(file, tok512, 1000).length, 1000);
  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, '{"text": "a story"}\n{"txt": "no text"}\n');
  assert.throws(() => tokenizePrefix(bad, tok512, 10), /bad\.jsonl line 2: no string field "text"/);
});

test('tokenizePrefix: a text shorter than asked gives all its tokens; too short for a window is still refused', (t) => {
  const whole = tokenizeFile(demoText, tok512);
  assert.deepEqual(tokenizePrefix(demoText, tok512, 1e9), whole);
  const dir = tempDir(t);
  const tiny = path.join(dir, 'tiny.txt');
  fs.writeFileSync(tiny, 'Once upon a time there was a cat.\nIt sat.'); // no line end at the end
  const ids = tokenizePrefix(tiny, tok512, 128 * 4);
  assert.deepEqual(ids, tokenizeFile(tiny, tok512));
  assert.throws(() => consecutiveWindows(ids, 128, 4), /the text has \d+ tokens, fewer than one window of 128/);
  assert.throws(
    () => sampledWindows(ids, 128, 4, 0),
    /the calibration text has \d+ tokens, fewer than one window of 128/,
  );
  assert.throws(() => tokenizePrefix(path.join(dir, 'absent.txt'), tok512, 10), /absent\.txt: text file not found/);
});

test('sampledWindows: drawn from a bounded prefix; the same as before for a text within the bound', () => {
  const whole = tokenizedWhole(texts.tinyStoriesValid); // 393k tokens
  const old = (ids: number[], seqLen: number, count: number, seed: number) => {
    const rand = seededRandom(seed);
    return Array.from({ length: count }, () => {
      const start = Math.floor(rand() * (ids.length - seqLen));
      return ids.slice(start, start + seqLen);
    });
  };
  // Within the bound (16 × 64 × 512 = 524,288 tokens): the windows of the former whole-text sampling.
  assert.equal(sampledPoolTokens(512, 64), 524_288);
  assert.deepEqual(sampledWindows(whole, 512, 64, 3), old(whole, 512, 64, 3));
  // Beyond it: the windows come from the pool, and the pool alone gives the same windows.
  const pool = sampledPoolTokens(128, 8);
  const fromWhole = sampledWindows(whole, 128, 8, 0);
  assert.deepEqual(sampledWindows(whole.slice(0, pool), 128, 8, 0), fromWhole);
  assert.deepEqual(fromWhole, old(whole.slice(0, pool), 128, 8, 0));
  assert.deepEqual(sampledWindows(tokenizePrefix(texts.tinyStoriesValid, tok512, pool), 128, 8, 0), fromWhole);
});

test('calibrationTokens: the most tokens any stage reads, from the request', () => {
  assert.equal(windowTokens(128, 8), 1024);
  assert.equal(windowTokens(128), Infinity);
  // Sampled pool 16 × 64 × 128 = 131,072 beats 80 fitness windows (10,240 tokens).
  assert.equal(calibrationTokens({ evalText: 'held-out.txt' }, 128), 131_072);
  assert.equal(calibrationTokens({ calibWindows: 8, fitnessWindows: 2000, evalText: 'x' }, 128), 256_000);
  // Perplexity on the calibration text (prune without --eval): all of it unless --eval-windows says how many.
  assert.equal(calibrationTokens({ calibWindows: 8 }, 128), Infinity);
  assert.equal(calibrationTokens({ calibWindows: 8, evalWindows: 3000 }, 128), 384_000);
  assert.equal(calibrationTokens({ calibWindows: 8, evalOnCalib: false }, 128), 16_384);
});
