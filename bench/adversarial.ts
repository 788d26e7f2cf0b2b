// `npm run bench -- adversarial`: the hostile and careless uses of issue 15 against the built CLI, on copies of
// stories260K (a few minutes on 2 cores). Every case must end as expected (a user error, an environment error,
// success, or a cancel whose --resume gives the byte-identical model of an uninterrupted run) and pass the checks
// of adversarialHarness.ts. Writes bench/results/adversarial.{md,json}; exits 1 when a case fails.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  cli,
  filesLeft,
  firstLine,
  halfWritten,
  onFirstRun,
  sandbox,
  sha256,
  shuffledTokenizer,
  snapshot,
  touchedOutside,
  type Run,
  type Sandbox,
} from './adversarialHarness';
import { fixtures, machine, writeResults } from './lib';
import { SHAPES, writeRandomModel } from './randomModels';

type Expect = 'user error' | 'environment error' | 'success' | 'cancel, then resume identical';

interface Outcome {
  /** The runs of the case in order; the last decides the exit code and the message shown. */
  runs: Run[];
  /** Output folders the case writes (default: the sandbox's `out`). */
  outs?: string[];
  /** Whether the last run's output folder existed before it (a hostile pre-existing folder). */
  outExisted?: boolean;
  /** Problems the case itself found (a result that differs from the uninterrupted run, a user file gone). */
  problems?: string[];
  note?: string;
}

interface Case {
  group: string;
  name: string;
  expect: Expect;
  run: (sb: Sandbox) => Promise<Outcome>;
  /** Why the case cannot run here (not root, no tmpfs). */
  skip?: () => string | undefined;
}

const threads = ['--provider', 'cpu', '--threads', '1'];
// Eight generations: long enough for a Ctrl-C to land between checkpoints, a second or two on stories260K.
const compressArgs = (sb: Sandbox, out = sb.out) => [
  'compress',
  sb.model,
  '--ratio',
  '0.8',
  '--calib',
  sb.text,
  '--preset',
  'quick',
  '--generations',
  '8',
  '--seq-len',
  '128',
  '--fitness-windows',
  '4',
  '--calib-windows',
  '8',
  ...threads,
  '--out',
  out,
];
const evalArgs = (sb: Sandbox, text = sb.text) => [
  'eval',
  sb.model,
  '--text',
  text,
  '--seq-len',
  '64',
  '--windows',
  '2',
  ...threads,
];
const one = async (r: Promise<Run>): Promise<Outcome> => ({ runs: [await r] });

const searchArgs = (sb: Sandbox) => ['search', ...compressArgs(sb).slice(1)];

/** What a finished job's result is compared by: the exported model's bytes, or the searched masks (their file names the model's path). */
const JOBS = {
  compress: { args: compressArgs, result: (out: string) => sha256(path.join(out, 'model.onnx')) },
  search: {
    args: searchArgs,
    result: (out: string) => JSON.stringify(JSON.parse(fs.readFileSync(path.join(out, 'masks.json'), 'utf8')).layers),
  },
};
type Job = keyof typeof JOBS;

/** The uninterrupted run of each job every cancel is compared with. */
const references = new Map<Job, string>();
async function reference(job: Job): Promise<string> {
  if (!references.has(job)) {
    const sb = sandbox(`reference-${job}`);
    const r = await cli(JOBS[job].args(sb));
    if (r.code !== 0) throw new Error(`the reference ${job} failed: ${r.stderr}`);
    references.set(job, JOBS[job].result(sb.out));
  }
  return references.get(job)!;
}

/**
 * Interrupts the job (SIGINT, or SIGKILL) when stderr first matches `at` (or, for a file name, once that file is in
 * `<out>.partial`: the search's first checkpoint), then reruns it as a user would (with --resume where the message
 * says so or after a kill; without it where --resume says there is nothing to resume) and compares with the reference.
 */
function cancelThenResume(
  at: RegExp | string,
  signal: NodeJS.Signals = 'SIGINT',
  job: Job = 'compress',
): (sb: Sandbox) => Promise<Outcome> {
  return async (sb) => {
    const ref = await reference(job);
    let sent = false;
    let poll: NodeJS.Timeout | undefined;
    const first = await cli(JOBS[job].args(sb), (text, child) => {
      if (typeof at === 'string')
        poll ??= setInterval(
          () => !sent && fs.existsSync(path.join(`${sb.out}.partial`, at)) && (sent = child.kill(signal)),
          5,
        );
      else if (!sent && at.test(text)) sent = child.kill(signal);
    });
    clearInterval(poll);
    const problems: string[] = [];
    if (!sent || first.code === 0)
      problems.push(
        `the signal came too late: the first run ${first.code === 0 ? 'finished' : 'never reached the stage'}`,
      );
    if (signal === 'SIGINT' && first.code !== 130 && first.code !== 0)
      problems.push(`interrupted run exited ${first.code}, not 130`);
    const left = filesLeft(sb, [sb.out]).join(', ');
    // After SIGKILL nothing could be said: --resume is the documented way back. After SIGINT, the message says.
    const resume = signal === 'SIGKILL' || /--resume/.test(first.stderr) ? ['--resume'] : [];
    let second = await cli([...JOBS[job].args(sb), ...resume]);
    const refused =
      second.code !== 0 && /without --resume/.test(second.stderr)
        ? `--resume: exit ${second.code}: ${firstLine(second)}; `
        : '';
    if (refused) second = await cli(JOBS[job].args(sb));
    if (second.code === 0 && JOBS[job].result(sb.out) !== ref)
      problems.push(`the ${job === 'compress' ? 'model differs from' : 'masks differ from'} the uninterrupted run's`);
    const same = job === 'compress' ? 'model byte-identical' : 'same masks';
    const how = `${signal === 'SIGKILL' ? 'killed' : `exit ${first.code}: ${firstLine(first)}`}; left ${left || 'nothing'}; ${refused}rerun ${resume.length && !refused ? 'with' : 'without'} --resume → exit ${second.code}${second.code === 0 && !problems.length ? `, ${same}` : ''}`;
    return { runs: [first, second], problems, note: how };
  };
}

/** A copy of the model folder with one file replaced or damaged. */
function damagedModel(sb: Sandbox, damage: (dir: string) => void): string {
  damage(path.dirname(sb.model));
  return sb.model;
}

const isRoot = () => process.getuid?.() === 0;
/** A tmpfs of `size` at `dir` (root only); undefined when it cannot be mounted. */
function tmpfs(dir: string, options: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const unmount = (dir: string) => execFileSync('umount', [dir], { stdio: 'ignore' });
const needsRoot = () => (isRoot() ? undefined : 'needs root to mount a small tmpfs');

/**
 * A new memory cgroup of `bytes`, swap included (v1 under /sys/fs/cgroup/memory, else v2), with the file a process
 * joins it through; undefined where none can be made (not root, no memory controller to write).
 */
function memoryCgroup(name: string, bytes: number): { dir: string; procs: string } | undefined {
  for (const [dir, files] of [
    [`/sys/fs/cgroup/memory/${name}`, ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']],
    [`/sys/fs/cgroup/${name}`, ['memory.max', 'memory.swap.max']],
  ] as const) {
    try {
      fs.mkdirSync(dir);
    } catch {
      continue;
    }
    try {
      fs.writeFileSync(path.join(dir, files[0]), String(bytes));
      // Where swap is accounted, none: the job may not page its way past the limit.
      if (fs.existsSync(path.join(dir, files[1])))
        fs.writeFileSync(path.join(dir, files[1]), files[1] === 'memory.swap.max' ? '0' : String(bytes));
      return { dir, procs: path.join(dir, 'cgroup.procs') };
    } catch {
      fs.rmdirSync(dir);
    }
  }
  return undefined;
}

/**
 * `args` in a process under a memory cgroup limit of `bytes` (removed after), on a random-weight SmolLM-135M-shaped
 * fp16 model (bench/randomModels.ts: 0.27 GiB of weights) written into the sandbox.
 */
async function underMemoryLimit(sb: Sandbox, bytes: number, args: (model: string) => string[]): Promise<Outcome> {
  const model = writeRandomModel(SHAPES['smollm-135m'], 'float16', path.join(sb.dir, 'smollm'));
  const cg = memoryCgroup(`subnet-search-adversarial-${process.pid}`, bytes);
  if (!cg) throw new Error('no memory cgroup could be made');
  try {
    const r = await cli(args(model), undefined, ['sh', '-c', 'echo $$ > "$0" && exec "$@"', cg.procs]);
    return { runs: [r], problems: halfWritten(sb.out, r, false, true) };
  } finally {
    fs.rmdirSync(cg.dir);
  }
}
const needsCgroup = () =>
  isRoot() && (fs.existsSync('/sys/fs/cgroup/memory') || fs.existsSync('/sys/fs/cgroup/cgroup.controllers'))
    ? undefined
    : 'needs root and a memory cgroup hierarchy to write';

/** Runs `args` with `--out` on a fresh tmpfs mounted with `options`, and unmounts it. */
async function onTmpfs(sb: Sandbox, options: string, args: (out: string) => string[]): Promise<Outcome> {
  const disk = path.join(sb.dir, 'disk');
  if (!tmpfs(disk, options)) throw new Error(`mount -t tmpfs -o ${options} failed`);
  try {
    const out = path.join(disk, 'out');
    const r = await cli(args(out));
    // Checked before the disk goes away with its files.
    return {
      runs: [r],
      outs: [out],
      problems: halfWritten(out, r, false, true),
      note: `left on the disk: ${filesLeft(sb, [out]).join(', ') || 'nothing'}`,
    };
  } finally {
    unmount(disk);
  }
}

export const CASES: Case[] = [
  // Bad files
  {
    group: 'bad files',
    name: 'model file missing',
    expect: 'user error',
    run: (sb) => one(cli(['eval', path.join(sb.dir, 'nope.onnx'), '--text', sb.text])),
  },
  {
    group: 'bad files',
    name: 'model cut in half',
    expect: 'user error',
    run: (sb) =>
      one(
        cli(evalArgs({ ...sb, model: damagedModel(sb, (d) => fs.truncateSync(path.join(d, 'model.onnx'), 600_000)) })),
      ),
  },
  {
    group: 'bad files',
    name: 'a text file as the model',
    expect: 'user error',
    run: (sb) => one(cli(['eval', sb.text, '--text', sb.text])),
  },
  {
    group: 'bad files',
    name: 'a folder as the model',
    expect: 'user error',
    run: (sb) => one(cli(['eval', sb.dir, '--text', sb.text])),
  },
  {
    group: 'bad files',
    name: 'config.json not JSON',
    expect: 'user error',
    run: (sb) =>
      one(
        cli(
          evalArgs({
            ...sb,
            model: damagedModel(sb, (d) => fs.writeFileSync(path.join(d, 'config.json'), '{"hidden_size": 64,')),
          }),
        ),
      ),
  },
  {
    group: 'bad files',
    name: 'config.json rope_theta ≠ the graph',
    expect: 'user error',
    run: (sb) =>
      one(
        cli(
          compressArgs({
            ...sb,
            model: damagedModel(sb, (d) =>
              fs.writeFileSync(
                path.join(d, 'config.json'),
                fs
                  .readFileSync(path.join(d, 'config.json'), 'utf8')
                  .replace('"rope_theta": 10000.0', '"rope_theta": 500000.0'),
              ),
            ),
          }),
        ),
      ),
  },
  {
    group: 'bad files',
    name: 'config.json rms_norm_eps ≠ the graph',
    expect: 'user error',
    run: (sb) =>
      one(
        cli(
          evalArgs({
            ...sb,
            model: damagedModel(sb, (d) =>
              fs.writeFileSync(
                path.join(d, 'config.json'),
                fs
                  .readFileSync(path.join(d, 'config.json'), 'utf8')
                  .replace('"rms_norm_eps": 1e-05', '"rms_norm_eps": 1e-03'),
              ),
            ),
          }),
        ),
      ),
  },
  {
    group: 'bad files',
    name: 'tokenizer: same size, other vocabulary',
    expect: 'user error',
    run: (sb) => one(cli([...compressArgs(sb), '--tokenizer', shuffledTokenizer(sb.dir)])),
  },
  {
    group: 'bad files',
    name: 'tokenizer: 32000 tokens for a 512 model',
    expect: 'user error',
    run: (sb) => one(cli([...evalArgs(sb), '--tokenizer', path.join(fixtures, 'llama2c', 'tokenizer.bin')])),
  },
  {
    group: 'bad files',
    name: 'tokenizer.json without its fields',
    expect: 'user error',
    run: (sb) =>
      one(
        cli([
          ...evalArgs(sb),
          '--tokenizer',
          (fs.writeFileSync(path.join(sb.dir, 'empty.tokenizer.json'), '{}'),
          path.join(sb.dir, 'empty.tokenizer.json')),
        ]),
      ),
  },
  // Bad options
  {
    group: 'bad options',
    name: '--ratio 0.01 (impossible)',
    expect: 'user error',
    run: (sb) => one(cli(compressArgs(sb).map((a) => (a === '0.8' ? '0.01' : a)))),
  },
  {
    group: 'bad options',
    name: '--tolerance 0',
    expect: 'user error',
    run: (sb) => one(cli([...compressArgs(sb), '--tolerance', '0'])),
  },
  {
    group: 'bad options',
    name: 'eval --seq-len abc',
    expect: 'user error',
    run: (sb) => one(cli([...evalArgs(sb), '--seq-len', 'abc'])),
  },
  {
    group: 'bad options',
    name: 'prune --calib-windows 0',
    expect: 'user error',
    run: (sb) =>
      one(
        cli([
          'prune',
          sb.model,
          '--method',
          'flap',
          '--ratio',
          '0.8',
          '--calib',
          sb.text,
          '--calib-windows',
          '0',
          ...threads,
          '--out',
          sb.out,
        ]),
      ),
  },
  {
    group: 'bad options',
    name: 'sparsify --sparsity 1:1000000',
    expect: 'user error',
    run: (sb) =>
      one(cli(['sparsify', sb.model, '--sparsity', '1:1000000', '--calib', sb.text, ...threads, '--out', sb.out])),
  },
  {
    group: 'bad options',
    name: 'quantize --block-size 512',
    expect: 'user error',
    run: (sb) => one(cli(['quantize', sb.model, '--bits', '4', '--block-size', '512', ...threads, '--out', sb.out])),
  },
  {
    group: 'bad options',
    name: 'compress --population 1',
    expect: 'user error',
    run: (sb) => one(cli([...compressArgs(sb), '--population', '1'])),
  },
  { group: 'bad options', name: '--out ""', expect: 'user error', run: (sb) => one(cli(compressArgs(sb, ''))) },
  {
    group: 'bad options',
    name: '--generations 0',
    expect: 'user error',
    run: (sb) => one(cli([...compressArgs(sb), '--generations', '0'])),
  },
  {
    group: 'bad options',
    name: '--seq-len 100000 (past the context)',
    expect: 'user error',
    run: (sb) => one(cli([...compressArgs(sb), '--seq-len', '100000'])),
  },
  // Bad text
  {
    group: 'bad text',
    name: 'calibration text missing',
    expect: 'user error',
    run: (sb) => one(cli(compressArgs({ ...sb, text: path.join(sb.dir, 'typo.txt') }))),
  },
  {
    group: 'bad text',
    name: '--eval typo.txt (found before any work)',
    expect: 'user error',
    run: (sb) => one(cli([...compressArgs(sb), '--eval', path.join(sb.dir, 'typo.txt')])),
  },
  {
    group: 'bad text',
    name: 'a binary file as text',
    expect: 'user error',
    run: (sb) => one(cli(compressArgs({ ...sb, text: sb.model }))),
  },
  {
    group: 'bad text',
    name: 'Latin-1 (not UTF-8) text',
    expect: 'user error',
    run: (sb) =>
      one(
        cli(
          evalArgs(
            sb,
            (fs.writeFileSync(
              path.join(sb.dir, 'l1.txt'),
              Buffer.from(fs.readFileSync(sb.text, 'utf8').replace(/e/g, 'é'), 'latin1'),
            ),
            path.join(sb.dir, 'l1.txt')),
          ),
        ),
      ),
  },
  { group: 'bad text', name: 'a folder as text', expect: 'user error', run: (sb) => one(cli(evalArgs(sb, sb.dir))) },
  {
    group: 'bad text',
    name: 'an empty text',
    expect: 'user error',
    run: (sb) =>
      one(cli(evalArgs(sb, (fs.writeFileSync(path.join(sb.dir, 'empty.txt'), ''), path.join(sb.dir, 'empty.txt'))))),
  },
  {
    group: 'bad text',
    name: 'CRLF text (warned, line ends kept)',
    expect: 'success',
    run: async (sb) => {
      const crlf = path.join(sb.dir, 'crlf.txt');
      fs.writeFileSync(crlf, fs.readFileSync(sb.text, 'utf8').replace(/\n/g, '\r\n'));
      const r = await cli(evalArgs(sb, crlf));
      return {
        runs: [r],
        problems: /warning: .*CRLF/.test(r.stderr) ? [] : ['no CRLF warning'],
        note: r.stderr
          .split('\n')
          .find((l) => /warning/.test(l))
          ?.slice(0, 120),
      };
    },
  },
  // Hostile output folders
  {
    group: 'output folder',
    name: '--out exists with user files',
    expect: 'user error',
    run: async (sb) => {
      fs.mkdirSync(sb.out);
      fs.writeFileSync(path.join(sb.out, 'mine.txt'), 'keep');
      const r = await cli(compressArgs(sb));
      return {
        runs: [r],
        outExisted: true,
        problems: fs.readFileSync(path.join(sb.out, 'mine.txt'), 'utf8') === 'keep' ? [] : ['the user file changed'],
      };
    },
  },
  {
    group: 'output folder',
    name: '--out is a file',
    expect: 'user error',
    run: async (sb) => {
      fs.writeFileSync(sb.out, 'a file');
      return { runs: [await cli(compressArgs(sb))], outExisted: true };
    },
  },
  {
    group: 'output folder',
    name: '<out>.partial made by the user',
    expect: 'user error',
    run: async (sb) => {
      fs.mkdirSync(`${sb.out}.partial`);
      fs.writeFileSync(path.join(`${sb.out}.partial`, 'n.txt'), 'keep');
      const r = await cli(['convert', path.join(fixtures, 'llama2c', 'stories260K.bin'), '--out', sb.out]);
      return {
        runs: [r],
        problems: fs.existsSync(path.join(`${sb.out}.partial`, 'n.txt')) ? [] : ['the user file n.txt was deleted'],
      };
    },
  },
  {
    group: 'output folder',
    name: '--out a symlink to an empty folder elsewhere',
    expect: 'user error',
    run: async (sb) => {
      fs.mkdirSync(path.join(sb.dir, 'elsewhere'));
      fs.symlinkSync(path.join(sb.dir, 'elsewhere'), sb.out);
      return { runs: [await cli(compressArgs(sb))], outExisted: true };
    },
  },
  {
    group: 'output folder',
    name: 'two jobs on one --out',
    expect: 'success',
    run: async (sb) => {
      let second: Promise<Run> | undefined;
      const first = await cli(compressArgs(sb), (text) => {
        if (!second && /calibration statistics/.test(text)) second = cli(compressArgs(sb));
      });
      const other = await second!;
      const problems =
        other.code !== 0 && other.code !== 70 && /another subnet-search job/.test(other.stderr)
          ? []
          : [`second job: exit ${other.code}: ${firstLine(other)}`];
      return { runs: [first], problems, note: `second job: exit ${other.code}: ${firstLine(other)}` };
    },
  },
  {
    group: 'output folder',
    name: 'search --resume without a checkpoint',
    expect: 'user error',
    run: (sb) =>
      one(
        cli([
          'search',
          sb.model,
          '--ratio',
          '0.8',
          '--calib',
          sb.text,
          '--preset',
          'quick',
          '--seq-len',
          '128',
          ...threads,
          '--out',
          sb.out,
          '--resume',
        ]),
      ),
  },
  {
    group: 'environment',
    name: 'read-only file system for --out',
    expect: 'environment error',
    skip: needsRoot,
    run: (sb) => onTmpfs(sb, 'ro,size=64k', (out) => compressArgs(sb, out)),
  },
  {
    group: 'environment',
    name: 'full disk (512 KiB tmpfs): refused before the work',
    expect: 'environment error',
    skip: needsRoot,
    run: (sb) => onTmpfs(sb, 'size=512k', (out) => compressArgs(sb, out)),
  },
  {
    group: 'environment',
    // `quantize --bits 4` of stories260K needs 369 KiB by the estimate (no scales, no graph) and writes 441 KiB.
    name: 'full disk (400 KiB tmpfs): passes the estimate, fills up during the export',
    expect: 'environment error',
    skip: needsRoot,
    run: (sb) => onTmpfs(sb, 'size=400k', (out) => ['quantize', sb.model, '--bits', '4', '--out', out]),
  },
  {
    group: 'environment',
    name: 'memory limit (cgroup, 160 MiB) below the weights (0.27 GiB)',
    expect: 'environment error',
    skip: needsCgroup,
    run: (sb) => underMemoryLimit(sb, 160 * 2 ** 20, (model) => compressArgs({ ...sb, model })),
  },
  // Cancel at every stage, then resume
  ...(['calibration statistics', 'search', 'reformation', 'export', 'measure'] as const).map((stage): Case => ({
    group: 'cancel + resume',
    name: `Ctrl-C at "${stage}"`,
    expect: 'cancel, then resume identical',
    run: cancelThenResume(new RegExp(`^${stage}`, 'm')),
  })),
  {
    group: 'cancel + resume',
    name: 'SIGKILL at "export"',
    expect: 'cancel, then resume identical',
    run: cancelThenResume(/^export/m, 'SIGKILL'),
  },
  {
    group: 'cancel + resume',
    name: 'search: Ctrl-C as the search starts',
    expect: 'cancel, then resume identical',
    run: cancelThenResume(/^search/m, 'SIGINT', 'search'),
  },
  {
    group: 'cancel + resume',
    name: 'search: SIGKILL as the search starts',
    expect: 'cancel, then resume identical',
    run: cancelThenResume(/^search/m, 'SIGKILL', 'search'),
  },
  {
    group: 'cancel + resume',
    name: 'search: Ctrl-C after its first checkpoint',
    expect: 'cancel, then resume identical',
    run: cancelThenResume('search-checkpoint.json', 'SIGINT', 'search'),
  },
  {
    group: 'cancel + resume',
    name: 'search: SIGKILL after its first checkpoint',
    expect: 'cancel, then resume identical',
    run: cancelThenResume('search-checkpoint.json', 'SIGKILL', 'search'),
  },
  {
    group: 'cancel + resume',
    name: 'compress: Ctrl-C after the first checkpoint',
    expect: 'cancel, then resume identical',
    run: cancelThenResume('search-checkpoint.json'),
  },
];

export interface Row {
  group: string;
  case: string;
  expect: Expect;
  exit: number | null | 'skipped';
  message: string;
  filesLeft: string[];
  problems: string[];
  note?: string;
}

function expected(e: Expect, r: Run): string[] {
  const code = r.code;
  if (/internal error/.test(r.stderr) || code === 70) return ['internal error'];
  if (/\n\s+at .*:\d+:\d+/.test(r.stderr)) return ['stack trace shown'];
  if (e === 'user error' && (code === 0 || code === 74 || code === null))
    return [`expected a user error, got exit ${code}`];
  if (e === 'environment error' && code !== 74) return [`expected an environment error (exit 74), got exit ${code}`];
  if ((e === 'success' || e.startsWith('cancel')) && code !== 0) return [`expected success, got exit ${code}`];
  return [];
}

export async function runCase(c: Case, i: number): Promise<Row> {
  const skipped = c.skip?.();
  if (skipped)
    return {
      group: c.group,
      case: c.name,
      expect: c.expect,
      exit: 'skipped',
      message: skipped,
      filesLeft: [],
      problems: [],
    };
  const sb = sandbox(`${String(i).padStart(2, '0')}`);
  let before = new Map<string, string>();
  onFirstRun(() => (before = snapshot(sb.dir)));
  const o = await c.run(sb);
  const outs = o.outs ?? [sb.out];
  const last = o.runs[o.runs.length - 1];
  const problems = [
    ...o.runs.flatMap((r) => (/internal error/.test(r.stderr) ? ['internal error'] : [])),
    ...expected(c.expect, last),
    ...(o.outs
      ? []
      : touchedOutside(before, snapshot(sb.dir), sb, outs).map((f) => `touched outside the output folder: ${f}`)),
    ...(o.outs ? [] : halfWritten(sb.out, last, Boolean(o.outExisted), last.args.includes('--out'))),
    ...(o.problems ?? []),
  ];
  // Paths inside the sandbox shown relative to it: the table is about what happened, not where the suite ran.
  const local = (s: string) => s.split(`${sb.dir}${path.sep}`).join('');
  return {
    group: c.group,
    case: c.name,
    expect: c.expect,
    exit: last.code,
    message: local(firstLine(o.runs[0])),
    filesLeft: o.outs ? [] : filesLeft(sb, outs),
    problems: [...new Set(problems)],
    note: o.note && local(o.note),
  };
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function table(rows: Row[]): string {
  const head = [
    '| group | case | expected | exit | first line of the message | files left | verdict |',
    '| --- | --- | --- | ---: | --- | --- | --- |',
  ];
  return [
    ...head,
    ...rows.map(
      (r) =>
        `| ${r.group} | ${cell(r.case)} | ${r.expect} | ${r.exit} | ${cell(r.message)}${r.note ? ` — ${cell(r.note)}` : ''} | ${cell(r.filesLeft.join(', ') || '—')} | ${r.exit === 'skipped' ? 'skipped' : r.problems.length ? `**FAIL**: ${cell(r.problems.join('; '))}` : 'ok'} |`,
    ),
  ].join('\n');
}

export async function benchAdversarial(): Promise<void> {
  const t0 = performance.now();
  const rows: Row[] = [];
  for (const [i, c] of CASES.entries()) {
    const row = await runCase(c, i);
    rows.push(row);
    console.log(
      `${row.problems.length ? 'FAIL' : row.exit === 'skipped' ? 'skip' : 'ok  '} ${c.group}: ${c.name} (exit ${row.exit})${row.problems.length ? `: ${row.problems.join('; ')}` : ''}`,
    );
  }
  const failed = rows.filter((r) => r.problems.length);
  const seconds = (performance.now() - t0) / 1000;
  const summary = `${rows.length} cases, ${rows.filter((r) => r.exit !== 'skipped').length} run, ${failed.length} failed, in ${seconds.toFixed(0)} s on ${machine()}.`;
  const md = [
    `Adversarial suite (\`npm run bench -- adversarial\`): ${summary} Every case is checked for: no internal error or stack trace, the expected kind of ending, no file outside the output folder changed (sandbox hashed before and after), no half-written output, and for each cancel a rerun giving the byte-identical model of an uninterrupted run.`,
    '',
    table(rows),
  ].join('\n');
  writeResults('adversarial', { machine: machine(), seconds, rows }, md);
  if (failed.length) process.exitCode = 1;
}
