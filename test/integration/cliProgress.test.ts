// Every job command reports per-layer progress: the CLI's bar (or log line), and the extension through IPC, are fed
// by the same events; here they are read as the extension reads them. With --json, warnings still reach stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobEvent } from '../../src/job/protocol';
import type { ChildMessage } from '../../src/job/ipc';
import { cliPath, demoText, stories260K, tempDir } from '../fixtures';
import { runCli } from '../cli';

/** The CLI run as the extension host runs it (IPC on): its job events. */
async function eventsOf(args: string[]): Promise<JobEvent[]> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, SUBNET_SEARCH_IPC: '1' },
  });
  const events: JobEvent[] = [];
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  child.on('message', (m: ChildMessage) => m.kind === 'event' && events.push(m.event));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, stderr);
  return events;
}

const COMMON = ['--calib', demoText, '--seq-len', '128', '--calib-windows', '8', '--provider', 'cpu'];

for (const [name, args] of [
  ['sparsify', ['sparsify', stories260K.onnx, '--sparsity', '0.5', ...COMMON, '--eval-windows', '4']],
  ['quantize --gptq', ['quantize', stories260K.onnx, '--bits', '4', '--gptq', ...COMMON, '--eval-windows', '4']],
  ['prune', ['prune', stories260K.onnx, '--method', 'wanda-sp', '--ratio', '0.8', ...COMMON, '--eval-windows', '4']],
] as const) {
  test(`${name} reports its stages and per-layer progress to the end`, async () => {
    const events = await eventsOf([...args, '--out', path.join(tempDir(), 'o')]);
    assert.ok(
      events.some((e) => e.type === 'stage'),
      'stage events',
    );
    const layers = events.filter((e) => e.type === 'progress' && e.unit === 'layers');
    assert.ok(layers.length > 0, `per-layer progress: ${JSON.stringify(events)}`);
    const last = layers.at(-1) as Extract<JobEvent, { type: 'progress' }>;
    assert.equal(last.done, last.total, 'the last layer is reported');
  });
}

test('--json: stdout is the report alone, and a warning of the input (CRLF text) still reaches stderr', () => {
  const crlf = path.join(tempDir(), 'crlf.txt');
  fs.writeFileSync(crlf, fs.readFileSync(demoText, 'utf8').replace(/\n/g, '\r\n'));
  for (const args of [
    ['sparsify', stories260K.onnx, '--sparsity', '0.5'],
    ['prune', stories260K.onnx, '--method', 'wanda-sp', '--ratio', '0.8'],
  ]) {
    const calib = ['--calib', crlf, '--seq-len', '128', '--calib-windows', '8', '--eval-windows', '4'];
    const r = runCli([...args, ...calib, '--provider', 'cpu', '--json', '--out', path.join(tempDir(), 'o')]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(JSON.parse(r.stdout), 'stdout parses as one JSON report');
    assert.match(r.stderr, /warning: --calib .*crlf\.txt has Windows \(CRLF\) line ends/, `${args[0]}: ${r.stderr}`);
  }
});

test('the final measurement names each of its parts on stderr, above its bar (or in a log)', () => {
  const out = path.join(tempDir(), 'm');
  const r = runCli(['sparsify', stories260K.onnx, '--sparsity', '0.5', ...COMMON, '--eval-windows', '4', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const parts = r.stderr.split('\n').filter((l) => l.startsWith('  measure: '));
  assert.deepEqual(parts, [
    '  measure: latency',
    '  measure: perplexity of original',
    '  measure: perplexity of sparsegpt 50% unstructured',
    '  measure: resident memory',
  ]);
});
