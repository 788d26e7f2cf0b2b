// The machinery of the adversarial suite (bench/adversarial.ts): a sandbox per case holding a copy of the model and
// the text, the built CLI run in it, and the checks every case must pass whatever it does: no internal error, no
// file outside the output folder touched, no half-written output.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtures, root } from './lib';

export const CLI = path.join(root, 'dist', 'cli.js');
const MODEL_DIR = path.join(fixtures, 'onnx', 'stories260K-llama');
const TEXT = path.join(root, 'media', 'demo', 'tinystories_sample.txt');
export const SANDBOXES = path.join(root, 'bench', 'work', 'adversarial');

/** One case's folder: `model/` (stories260K), `text.txt`, and `out` (the --out every case uses unless it says). */
export interface Sandbox {
  dir: string;
  model: string;
  text: string;
  out: string;
}

export function sandbox(name: string): Sandbox {
  const dir = path.join(SANDBOXES, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(MODEL_DIR, path.join(dir, 'model'), { recursive: true });
  for (const f of fs.readdirSync(path.join(dir, 'model'))) fs.chmodSync(path.join(dir, 'model', f), 0o644);
  fs.copyFileSync(TEXT, path.join(dir, 'text.txt'));
  return {
    dir,
    model: path.join(dir, 'model', 'model.onnx'),
    text: path.join(dir, 'text.txt'),
    out: path.join(dir, 'out'),
  };
}

export interface Run {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The CLI with `args`; `onStderr` sees stderr as it grows and may signal the process (a Ctrl-C at a stage).
 * `prefix`: a command that runs it (one that moves it into a cgroup first). One ONNX Runtime thread: the suite
 * runs on shared 2-core machines.
 */
export function cli(
  args: string[],
  onStderr?: (text: string, child: ReturnType<typeof spawn>) => void,
  prefix: string[] = [],
): Promise<Run> {
  const hook = beforeFirstRun;
  beforeFirstRun = undefined;
  hook?.();
  const [command, ...rest] = [...prefix, process.execPath, CLI, ...args];
  const child = spawn(command, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString();
    onStderr?.(stderr, child);
  });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ args, code, signal, stdout, stderr })));
}

let beforeFirstRun: (() => void) | undefined;

/**
 * `f` runs just before the next command starts: the sandbox is hashed then, after the case has laid out its hostile
 * files (a damaged config, a user's folder), so that only what the command does counts as touched.
 */
export function onFirstRun(f: () => void): void {
  beforeFirstRun = f;
}

/** Content hashes of every file under `dir` (links as their target's name), by path relative to it. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isSymbolicLink()) out.set(rel, `-> ${fs.readlinkSync(p)}`);
      else if (e.isDirectory()) {
        out.set(`${rel}/`, 'dir');
        walk(p);
      } else if (e.isFile()) out.set(rel, createHash('sha256').update(fs.readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

/** Paths added, removed or changed between two snapshots, except under the given output folders. */
export function touchedOutside(
  before: Map<string, string>,
  after: Map<string, string>,
  sb: Sandbox,
  outs: string[],
): string[] {
  const mine = outs.map((o) => path.relative(sb.dir, o)).flatMap((o) => [o, `${o}/`, `${o}.partial`, `${o}.partial/`]);
  const inside = (rel: string) => mine.some((o) => rel === o || rel.startsWith(o.endsWith('/') ? o : `${o}/`));
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => !inside(k) && before.get(k) !== after.get(k)).sort();
}

/** Files under `<out>` and `<out>.partial`, relative to the sandbox. */
export function filesLeft(sb: Sandbox, outs: string[]): string[] {
  const list: string[] = [];
  for (const o of outs.flatMap((x) => [x, `${x}.partial`])) {
    if (!fs.existsSync(o) && !isLink(o)) continue;
    if (isLink(o) || !fs.statSync(o).isDirectory()) {
      list.push(path.relative(sb.dir, o));
      continue;
    }
    for (const f of fs.readdirSync(o)) list.push(path.relative(sb.dir, path.join(o, f)));
  }
  return list;
}

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export const firstLine = (r: Run) =>
  (r.stderr.split('\n').find((l) => /^(subnet-search: |error: )/.test(l)) ?? r.stdout.split('\n')[0] ?? '')
    .replace(/^subnet-search: /, '')
    .slice(0, 200);

export const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * What a finished or failed command must have left in `out`: after success, a complete folder (model.onnx /
 * masks.json and a report) and no temporary folder; after a failure, no `out` that was not there before and no
 * model file or temporary file in `<out>.partial` (a kept checkpoint or masks are there for --resume).
 */
export function halfWritten(out: string, r: Run, existedBefore: boolean, expectsModel: boolean): string[] {
  const problems: string[] = [];
  const tmpFiles = (d: string) =>
    fs.existsSync(d) && fs.statSync(d).isDirectory() ? fs.readdirSync(d).filter((f) => f.includes('.tmp-')) : [];
  if (r.code === 0) {
    if (expectsModel && !fs.existsSync(path.join(out, 'model.onnx')) && !fs.existsSync(path.join(out, 'masks.json')))
      problems.push('exit 0 without model.onnx / masks.json');
    if (fs.existsSync(`${out}.partial`)) problems.push('exit 0 but <out>.partial left');
    problems.push(...tmpFiles(out).map((f) => `temporary file committed: ${f}`));
  } else {
    if (!existedBefore && fs.existsSync(out)) problems.push('a failed job left <out>');
    // A finished model kept when only its report could not be written is said so (and where): not half-written.
    const kept = /the finished model is in/.test(r.stderr);
    if (!kept && fs.existsSync(path.join(`${out}.partial`, 'model.onnx')))
      problems.push('a failed job left model.onnx in <out>.partial');
    problems.push(...tmpFiles(`${out}.partial`).map((f) => `temporary file left: ${f}`));
  }
  return problems;
}

/**
 * tok512 (the fixture models' tokenizer) with the ids of its merged tokens rotated, written to `dir`: 512 tokens
 * like the models', but another vocabulary. A fixed derangement, the same on every run.
 */
export function shuffledTokenizer(dir: string): string {
  const t = JSON.parse(fs.readFileSync(path.join(fixtures, 'llama2c', 'tok512.tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number> };
  };
  const merged = Object.entries(t.model.vocab).filter(([, id]) => id >= 259);
  merged.forEach(([token], i) => (t.model.vocab[token] = merged[(i + 97) % merged.length][1]));
  const file = path.join(dir, 'other.tokenizer.json');
  fs.writeFileSync(file, JSON.stringify(t));
  return file;
}
