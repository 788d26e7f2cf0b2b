// Shared pieces of the benchmarks: fixture data split into calibration and held-out parts, result files, and
// the README tables between `<!-- bench:NAME -->` markers.
import { spawnSync } from 'node:child_process';
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
  /** The text files both baselines and search are given. */
  calibFile: string;
  heldOutFile: string;
  calib: number[][];
  heldOut: number[][];
}

export const workDir = path.join(root, 'bench', 'work');

/**
 * TinyStories validation text, split at a paragraph boundary: the first quarter is the calibration text, the
 * second half the held-out text, so no held-out token is seen in calibration or in a search's fitness.
 */
export function splitText(): { calibFile: string; heldOutFile: string } {
  fs.mkdirSync(workDir, { recursive: true });
  const text = fs.readFileSync(validText, 'utf8');
  const at = (f: number) => text.indexOf('\n\n', Math.floor(text.length * f)) + 2;
  const calibFile = path.join(workDir, 'calib.txt');
  const heldOutFile = path.join(workDir, 'heldout.txt');
  fs.writeFileSync(calibFile, text.slice(0, at(0.25)));
  fs.writeFileSync(heldOutFile, text.slice(at(0.5)));
  return { calibFile, heldOutFile };
}

export function benchData(
  file: string,
  o: { seqLen: number; calibWindows: number; heldOutWindows: number; seed?: number },
): BenchData {
  const decoder = loadDecoder(file);
  const tok = loadModelTokenizer(file, decoder.config.vocab);
  const { calibFile, heldOutFile } = splitText();
  return {
    decoder,
    calibFile,
    heldOutFile,
    calib: sampledWindows(tokenizeFile(calibFile, tok), o.seqLen, o.calibWindows, o.seed ?? 0),
    heldOut: consecutiveWindows(tokenizeFile(heldOutFile, tok), o.seqLen, o.heldOutWindows),
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
  console.log(
    `bench ${name}: wrote bench/results/${name}.json and .md${re.test(text) ? ', README table updated' : ''}`,
  );
}

/** Wall time and peak RSS of a CLI command (GNU time's %M); `stdout` alone for `--json`, `out` with stderr. */
export function timedCli(args: string[]): { seconds: number; maxRssBytes: number; stdout: string; out: string } {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, path.join(root, 'dist', 'cli.js'), ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`subnet-search ${args.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  const lines = r.stderr.trim().split('\n');
  return {
    seconds: (performance.now() - t0) / 1000,
    maxRssBytes: Number(lines.at(-1)) * 1024,
    stdout: r.stdout,
    out: `${r.stdout}${lines.slice(0, -1).join('\n')}`,
  };
}
