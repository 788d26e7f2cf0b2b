// Paths of the shared real-model fixtures (../shared/fixtures beside the checkout; SUBNET_SEARCH_FIXTURES overrides).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModelTokenizer } from '../src/text/tokenizer';
import { textWindows } from '../src/text/windows';
import { loadDecoder } from '../src/model/recognise';
import type { FloatType } from '../src/model/decoder';
import { writeModelFiles } from '../src/compress/exportModel';

export const repoRoot = path.resolve(__dirname, '..');
export const fixturesDir = process.env.SUBNET_SEARCH_FIXTURES ?? path.resolve(repoRoot, '..', 'shared', 'fixtures');

export const fixture = (...p: string[]) => path.join(fixturesDir, ...p);

export const stories260K = {
  onnx: fixture('onnx', 'stories260K-llama', 'model.onnx'),
  config: fixture('onnx', 'stories260K-llama', 'config.json'),
  bin: fixture('llama2c', 'stories260K.bin'),
  greedy: fixture('llama2c', 'stories260K.greedy256.txt'),
};

export const tinyMha = {
  onnx: fixture('onnx', 'tinystories-llama-mha', 'model.onnx'),
  config: fixture('onnx', 'tinystories-llama-mha', 'config.json'),
  bin: fixture('llama2c', 'tinystories-llama-mha.bin'),
  greedy: fixture('onnx', 'tinystories-llama-mha', 'greedy256.txt'),
};

export const texts = {
  tinyStoriesValid: fixture('text', 'tinystories_valid_head.txt'),
  wikitext2: fixture('text', 'wikitext2_test_joined.txt'),
};

/** |a − b| / |b| */
export const relDiff = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

export const cliPath = path.join(repoRoot, 'dist', 'cli.js');

/** The embedded demo's few KB of TinyStories text (media/demo), the calibration text of the fast CLI tests. */
export const demoText = path.join(repoRoot, 'media', 'demo', 'tinystories_sample.txt');

const made: string[] = [];
process.on('exit', () => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'subnet-search-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Copies a fixture model folder to a temp dir so a test can damage or extend it. */
export function copyDir(src: string, dst: string): string {
  fs.cpSync(src, dst, { recursive: true });
  for (const f of fs.readdirSync(dst)) fs.chmodSync(path.join(dst, f), 0o644);
  return dst;
}

const windowCache = new Map<string, number[][]>();

/**
 * The first `n` consecutive windows of `seqLen` tokens of `text` under the tokenizer beside `model`: tokenized only
 * as far as they reach (`tokenizePrefix`: the same ids as the whole text's first ones) and once per test process,
 * so tests stop re-tokenizing a whole 0.8 MB text for a few windows.
 */
export function tokenWindows(model: string, vocab: number, text: string, seqLen: number, n: number): number[][] {
  const key = [model, vocab, text, seqLen].join('\0');
  let cached = windowCache.get(key);
  if (!cached || cached.length < n) {
    cached = textWindows(text, loadModelTokenizer(model, vocab), seqLen, n);
    windowCache.set(key, cached);
  }
  return cached.slice(0, n);
}

/** A fixture model written again by our exporter in `weightType`, with its weights in model.onnx_data. */
export function copyAs(model: string, weightType: FloatType): string {
  const d = loadDecoder(model);
  const dir = tempDir(`subnet-search-${weightType}-`);
  writeModelFiles({ ...d, weightType }, dir, loadModelTokenizer(model, d.config.vocab), { externalData: 'always' });
  return path.join(dir, 'model.onnx');
}
