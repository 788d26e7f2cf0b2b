// The option rules of src/job/options.ts: one set of rules for the CLI's parsers and the job API (issue 15 #7).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkRequest,
  checkSchedule,
  checkWeightStageRequest,
  parseRuleValue,
  parseSparsity,
  scheduleOverrides,
} from '../../src/job/options';
import { PRESETS } from '../../src/compress/search/evolution';
import { UserError } from '../../src/util/errors';

const refused = (f: () => unknown, message: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof UserError && message.test(e.message), String(message));

test('command-line numbers are read strictly: text, blanks and trailing junk are refused, not NaN, 0 or a prefix', () => {
  assert.equal(parseRuleValue('seqLen', '128'), 128);
  assert.equal(parseRuleValue('ratio', '0.5'), 0.5);
  for (const text of ['abc', '', ' ', '12abc', 'NaN', 'Infinity'])
    refused(() => parseRuleValue('seqLen', text), /expected a whole number, 2 or more/);
  refused(() => parseRuleValue('blockSize', 'abc'), /expected one of 16, 32, 64, 128, 256/);
});

test('counts are whole numbers ≥ 1 (no silent fallback for 0), the population ≥ 3, seeds and threads ≥ 0', () => {
  for (const name of [
    'windows',
    'evalWindows',
    'calibWindows',
    'fitnessWindows',
    'generations',
    'maxTokens',
  ] as const) {
    refused(() => parseRuleValue(name, '0'), /expected a whole number, 1 or more/);
    refused(() => parseRuleValue(name, '2.5'), /expected a whole number, 1 or more/);
    assert.equal(parseRuleValue(name, '1'), 1);
  }
  for (const p of ['0', '1', '2']) refused(() => parseRuleValue('population', p), /expected a whole number, 3 or more/);
  assert.equal(parseRuleValue('seed', '0'), 0);
  refused(() => parseRuleValue('seed', '-1'), /0 or more/);
  assert.equal(parseRuleValue('threads', '0'), 0);
});

test('ratio in (0, 1), tolerance > 0, block size one MatMulNBits accepts (16 … 256)', () => {
  for (const r of ['0', '1', '1.5', '-0.2']) refused(() => parseRuleValue('ratio', r), /strictly between 0 and 1/);
  refused(() => parseRuleValue('tolerance', '0'), /above 0/);
  for (const b of ['8', '24', '33', '512'])
    refused(() => parseRuleValue('blockSize', b), /one of 16, 32, 64, 128, 256/);
  assert.equal(parseRuleValue('blockSize', '256'), 256);
});

test('the job API checks requests with the same rules and names the flag', () => {
  refused(() => checkRequest({ calibWindows: 0 }), /^--calib-windows 0: expected a whole number, 1 or more$/);
  refused(() => checkRequest({ seqLen: Number.NaN }), /^--seq-len NaN: expected a whole number, 2 or more$/);
  refused(() => checkRequest({ ratio: 0.8, tolerance: 0 }), /^--tolerance 0: /);
  const request = { ratio: 0.8, model: 'm.onnx', seqLen: undefined };
  assert.doesNotThrow(() => checkRequest(request));
  refused(() => checkSchedule({ generations: 0 }), /^--generations 0: expected a whole number, 1 or more$/);
  refused(() => checkSchedule({ parents: 1 }), /parents 1: expected a whole number, 2 or more/);
  refused(
    () => checkWeightStageRequest({ quant: { bits: 4, blockSize: 24 } }),
    /^--block-size 24: expected one of 16, 32, 64, 128, 256/,
  );
  refused(
    () => checkWeightStageRequest({ sparsity: { pattern: { kind: 'nm', n: 1, m: 1000000 } } }),
    /^--sparsity 1:1000000: N:M needs M ≤ 64/,
  );
});

test('--sparsity: a fraction in (0, 1), or N:M with 1 ≤ N < M ≤ 64', () => {
  assert.deepEqual(parseSparsity('2:4'), { kind: 'nm', n: 2, m: 4 });
  assert.deepEqual(parseSparsity('0.5'), { kind: 'unstructured', sparsity: 0.5 });
  refused(() => parseSparsity('1:1000000'), /M ≤ 64: a group wider than a layer's inputs zeroes nothing/);
  refused(() => parseSparsity('4:2'), /1 ≤ N < M/);
  refused(() => parseSparsity('0:4'), /1 ≤ N < M/);
  for (const s of ['1.5', '0', 'abc', ''])
    refused(() => parseSparsity(s), /fraction of zeros strictly between 0 and 1/);
  refused(() => parseSparsity('50'), /\(2:4\); for 50 %, give 0\.5$/);
});

test('--population over a preset: the shares add up to exactly the population asked for, as before for the tested sizes', () => {
  for (const preset of Object.values(PRESETS)) {
    for (let p = 3; p <= 120; p++) {
      const s = scheduleOverrides(preset, { population: p });
      assert.equal(s.mutants! + s.crossovers! + s.randoms!, p, `population ${p}`);
      assert.ok(s.mutants! >= 1 && s.crossovers! >= 1 && s.randoms! >= 1 && s.parents! >= 2 && s.parents! <= p);
    }
  }
  // The population of 8 the tests and benches use keeps its earlier schedule (same seeds, same masks).
  assert.deepEqual(scheduleOverrides(PRESETS.quick, { population: 8, generations: 3 }), {
    generations: 3,
    mutants: 4,
    crossovers: 2,
    randoms: 2,
    parents: 2,
  });
  assert.deepEqual(scheduleOverrides(PRESETS.small, {}), {});
});
