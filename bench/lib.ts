// Shared pieces of the benchmarks: fixture data split into calibration and held-out parts, result files, and
// the README tables between `<!-- bench:NAME -->` markers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDecoder } from '../src/model/recognise';
import type { Decoder } from '../src/model/decoder';
import { loadModelTokenizer } from '../src/text/tokenizer';
import { consecutiveWindows, sampledWindows, tokenizeFile } from '../src/text/windows';

export const root = path.resolve(__dirname, '..');
export const fixtures = process.env.SUBNET_SEARCH_FIXTURES ?? path.resolve(root, '..', 'shared', 'fixtures');
export const validText = path.join(fixtures, 'text', 'tinystories_valid_head.txt');

export const MODELS = [
  { name: 'stories260K', file: path.join(fixtures, 'onnx', 'stories260K-llama', 'model.onnx') },
  { name: 'tinystories-llama-mha', file: path.join(fixtures, 'onnx', 'tinystories-llama-mha', 'model.onnx') },
];

export interface BenchData {
  decoder: Decoder;
  calib: number[][];
  heldOut: number[][];
}

/**
 * TinyStories validation text: calibration windows are sampled from its first quarter, held-out windows are
 * consecutive windows of its second half, so no held-out token was seen in calibration.
 */
export function benchData(file: string, o: { seqLen: number; calibWindows: number; heldOutWindows: number; seed?: number }): BenchData {
  const decoder = loadDecoder(file);
  const ids = tokenizeFile(validText, loadModelTokenizer(file, decoder.config.vocab));
  return {
    decoder,
    calib: sampledWindows(ids.slice(0, Math.floor(ids.length / 4)), o.seqLen, o.calibWindows, o.seed ?? 0),
    heldOut: consecutiveWindows(ids.slice(Math.floor(ids.length / 2)), o.seqLen, o.heldOutWindows),
  };
}

export function machine(): string {
  return `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, Node ${process.version}, ${os.platform()} ${os.arch()}`;
}

/** Writes `bench/results/NAME.json` and `NAME.md`, and replaces the README table between its markers. */
export function writeResults(name: string, json: unknown, markdown: string): void {
  const dir = path.join(root, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, `${name}.md`), `${markdown}\n`);
  const readme = path.join(root, 'README.md');
  const text = fs.readFileSync(readme, 'utf8');
  const re = new RegExp(`(<!-- bench:${name} -->\\n)[\\s\\S]*?(<!-- /bench:${name} -->)`);
  if (re.test(text)) fs.writeFileSync(readme, text.replace(re, `$1${markdown}\n$2`));
  console.log(`bench ${name}: wrote bench/results/${name}.json and .md${re.test(text) ? ', README table updated' : ''}`);
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
