import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../cli';
import { cliPath, demoText, stories260K, tempDir } from '../fixtures';

// A small, fast search: 5 generations of 8 candidates on 8 windows of 128 tokens.
const ARGS = [
  'search',
  stories260K.onnx,
  '--ratio',
  '0.8',
  '--calib',
  demoText,
  '--preset',
  'quick',
  '--generations',
  '5',
  '--population',
  '8',
  '--seq-len',
  '128',
  '--fitness-windows',
  '8',
  '--calib-windows',
  '8',
  '--seed',
  '3',
  '--provider',
  'cpu',
  '--json',
];

function search(out: string, extra: string[] = []) {
  const r = runCli([...ARGS, '--out', out, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const masksOf = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'masks.json'), 'utf8')).layers;

test('search: improves on its importance initialisation, stays in the budget, same seed ⇒ same masks', () => {
  const dir = tempDir();
  const a = search(path.join(dir, 'a'));
  const b = search(path.join(dir, 'b'));
  assert.ok(a.fitness.best < a.fitness.init, `best ${a.fitness.best} vs init ${a.fitness.init}`);
  assert.ok(a.ratio <= 0.8 && a.ratio >= 0.79, `ratio ${a.ratio}`);
  assert.equal(a.history.length, 6);
  assert.ok(
    a.history.every(
      (h: { bestSoFar: number }, i: number, all: { bestSoFar: number }[]) =>
        i === 0 || h.bestSoFar <= all[i - 1].bestSoFar,
    ),
    'best so far never gets worse',
  );
  assert.deepEqual(masksOf(path.join(dir, 'a')), masksOf(path.join(dir, 'b')));
  assert.equal(a.fitness.best, b.fitness.best);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'a')).sort(), ['masks.json', 'search-checkpoint.json', 'search.json']);
});

test('search: killed mid-search, --resume continues from the last generation and ends with the same result', async () => {
  const dir = tempDir();
  const full = search(path.join(dir, 'full'));
  const out = path.join(dir, 'killed');
  const checkpoint = `${out}.partial/search-checkpoint.json`;
  const child = spawn(process.execPath, [cliPath, ...ARGS, '--out', out], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      try {
        if (fs.existsSync(checkpoint) && JSON.parse(fs.readFileSync(checkpoint, 'utf8')).generation >= 2) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      } catch {
        // checkpoint being written: look again
      }
    }, 20);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error('the search finished before it could be killed'));
    });
  });
  await new Promise((r) => child.on('exit', r));
  assert.ok(!fs.existsSync(path.join(out, 'masks.json')), 'no result in the output folder after a kill');
  const generation = JSON.parse(fs.readFileSync(checkpoint, 'utf8')).generation;
  assert.ok(generation >= 2 && generation < 5);
  const resumed = search(out, ['--resume']);
  assert.deepEqual(masksOf(out), masksOf(path.join(dir, 'full')));
  assert.equal(resumed.fitness.best, full.fitness.best);
  assert.equal(resumed.evaluations, full.evaluations);
  assert.equal(resumed.history.length, full.history.length);
});

test('search: --resume with other settings, or without a checkpoint, is refused', () => {
  const out = path.join(tempDir(), 'x');
  const r = runCli([...ARGS, '--out', out, '--resume']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--resume: no checkpoint in .*x\.partial; start without --resume/);
});

test('search --depth below 0.7: the population holds candidates without their last layer; masks.json drops what the result drops', () => {
  const out = path.join(tempDir(), 'depth');
  const args = ARGS.map((a) => (a === '0.8' ? '0.6' : a));
  const r = runCli([...args, '--depth', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.ok(result.ratio <= 0.6 && result.ratio >= 0.59, `ratio ${result.ratio}`);
  const checkpoint = JSON.parse(fs.readFileSync(path.join(out, 'search-checkpoint.json'), 'utf8'));
  assert.ok(
    checkpoint.parents.every((p: { candidate: { drop: number } }) => p.candidate.drop === 0 || p.candidate.drop === 1),
    'stories260K (5 layers) may drop one',
  );
  assert.equal(checkpoint.settings.depth, 1);
  const layers = masksOf(out);
  layers.forEach((l: { heads: number[]; mlp: number[] }, i: number) => {
    const dropped = i >= layers.length - result.droppedLayers;
    assert.equal(l.heads.length === 0 && l.mlp.length === 0, dropped, `layer ${i}`);
  });
});

test("search: early rejection reaches the plain schedule's result with fewer evaluated tokens", () => {
  const dir = tempDir();
  const halving = search(path.join(dir, 'halving'));
  const plain = search(path.join(dir, 'plain'), ['--no-halving']);
  assert.equal(halving.fitness.best, plain.fitness.best);
  assert.deepEqual(masksOf(path.join(dir, 'halving')), masksOf(path.join(dir, 'plain')));
  assert.equal(halving.evaluations, plain.evaluations, 'the same candidates, met in the same order');
  assert.ok(halving.tokens < 0.6 * plain.tokens, `tokens ${halving.tokens} vs ${plain.tokens}`);
  assert.ok(halving.history.some((h: { rejectedEarly: number }) => h.rejectedEarly > 0));
  assert.ok(plain.history.every((h: { rejectedEarly: number }) => h.rejectedEarly === 0));
});

test('search: --resume from a checkpoint of the earlier format is refused with what to do', () => {
  const out = path.join(tempDir(), 'old');
  fs.mkdirSync(`${out}.partial`);
  fs.writeFileSync(`${out}.partial/search-checkpoint.json`, JSON.stringify({ version: 1, generation: 2 }));
  const r = runCli([...ARGS, '--out', out, '--resume']);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /--resume: the checkpoint in .*old\.partial was written by an older version of the search \(format 1\); start afresh without --resume/,
  );
});
