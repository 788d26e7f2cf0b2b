// On a machine with a GPU (bench/gpu.sh): Llama-2-7B-shaped fp16 models with RANDOM weights, the scale stages on
// WebGPU and on the CPU, under one deadline. Per-layer stages are measured on the first 4 layers of the 7B shape
// (their cost is linear in depth: bench scale shows it) and projected to 32; the fitness evaluation runs on the
// whole 32-layer model. Writes results.json into the output folder after every step, so a cut run keeps what it did.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SHAPES, writeRandomModel } from './randomModels';
import type { FitnessRequest, LinalgRequest, StagesRequest, WorkerResult } from './scaleWorker';

const [outDir, deadlineSeconds, workerJs, text] = process.argv.slice(2);
const deadline = Date.now() + Number(deadlineSeconds) * 1000;
const left = () => Math.max(0, deadline - Date.now());
const results: Record<string, unknown> = { weights: 'random', shape: 'llama-2-7b', started: new Date().toISOString() };
const save = () => fs.writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

/** Runs `f` as a named step unless fewer than `needs` seconds are left; a failure is recorded, not thrown. */
function step<T>(name: string, needs: number, f: () => T): T | undefined {
  const t0 = performance.now();
  try {
    if (left() < needs * 1000) throw new Error(`skipped: ${(left() / 1000).toFixed(0)} s left, needs ${needs}`);
    const v = f();
    results[name] = { ok: true, seconds: (performance.now() - t0) / 1000, result: v };
    return v;
  } catch (e) {
    results[name] = { ok: false, seconds: (performance.now() - t0) / 1000, error: String(e).slice(0, 4000) };
    return undefined;
  } finally {
    save();
    console.log(`${name}: ${JSON.stringify(results[name]).slice(0, 600)}`);
  }
}

function worker(request: StagesRequest | FitnessRequest | LinalgRequest, reserve: number): WorkerResult {
  const timeout = Math.max(20_000, left() - reserve * 1000);
  const r = spawnSync(process.execPath, [workerJs, JSON.stringify(request)], {
    encoding: 'utf8',
    timeout,
    maxBuffer: 1 << 26,
  });
  const lines = (r.stdout ?? '').trim().split('\n');
  if (r.error) throw new Error(`${r.error.message}; finished before that: ${lines.at(-1) ?? 'nothing'}`);
  if (r.status !== 0) throw new Error(`exit ${r.status} ${r.signal ?? ''}: ${r.stderr.slice(-3000)}`);
  return JSON.parse(lines.at(-1)!) as WorkerResult;
}

const seven = SHAPES['llama-2-7b'];
const setup = { seqLen: 2048, calibWindows: 8, fitnessWindows: 5, ratio: 0.8 };
// The headline first: a whole-7B fitness evaluation in fp16 arithmetic (the engine's choice on WebGPU), then the
// same in fp32 arithmetic for the comparison, then the per-layer stages.
const full = step('write 32-layer 7B fp16 model', 150, () =>
  writeRandomModel(seven, 'float16', path.join(outDir, 'models', 'llama-2-7b')),
);
for (const compute of ['float16', 'float32'] as const)
  if (full)
    step(`webgpu: fitness on the whole 7B, ${compute} arithmetic`, 90, () =>
      worker(
        {
          mode: 'fitness',
          model: full,
          text,
          provider: 'webgpu',
          seqLen: setup.seqLen,
          fitnessWindows: setup.fitnessWindows,
          compute,
        },
        60,
      ),
    );
const four = step('write 4-layer 7B-shaped fp16 model', 30, () =>
  writeRandomModel({ ...seven, layers: 4 }, 'float16', path.join(outDir, 'models', 'llama-2-7b-4layers')),
);
if (four)
  step('webgpu: stages on 4 layers', 60, () =>
    worker({ mode: 'stages', model: four, text, provider: 'webgpu', ...setup }, 120),
  );
// Where the linear algebra of a 7B linear runs faster: its MatMuls on the GPU (128-wide Cholesky leaves in JS), or all of
// it on the CPU's cores (o_proj / q,k,v,gate,up inputs are 4096 wide, down_proj's 11008). On the GPU also the inverse
// by Newton–Schulz, all MatMuls, against the factor (on the CPU its 4 n³ flops per iteration are out of the question).
for (const provider of ['webgpu', 'cpu'] as const)
  step(`${provider}: linear algebra of one 7B linear`, 60, () =>
    worker(
      { mode: 'linalg', provider, sizes: [seven.hidden, seven.intermediate], inverses: provider === 'webgpu' },
      40,
    ),
  );
if (four)
  step('cpu: stages on 4 layers', 40, () =>
    worker({ mode: 'stages', model: four, text, provider: 'cpu', ...setup }, 10),
  );
results.finished = new Date().toISOString();
save();
