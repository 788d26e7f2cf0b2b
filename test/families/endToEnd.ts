// What every family's end-to-end test does the same way: logits of a session step by step, the CLI's JSON, and the
// two compressions (FLAP search, Wanda 50 %) whose exports must load in plain onnxruntime-node.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { runCli } from '../cli';
import { demoText } from '../fixtures';
import { loadDecoder } from '../../src/model/recognise';
import { emptyPast, floatValues, int64, presentToPast } from '../../src/runtime/kvCache';
import type { Decoder } from '../../src/model/decoder';
import { createSession } from '../../src/runtime/session';
import { generateGreedy } from '../../src/runtime/generate';

export const IDS = Array.from({ length: 24 }, (_, i) => 3 + ((i * 37) % 500));

/**
 * Logits of one sequence `[steps][S·V]`: all at once, or prefilled with `prefill` tokens then one token a step;
 * position_ids fed where the graph has that input (a builder graph with the rotary inside its attention has none).
 */
export async function logits(
  s: ort.InferenceSession,
  d: Decoder,
  ids: number[],
  prefill = ids.length,
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  let past = emptyPast(s, d.layers, 1);
  for (let start = 0; start < ids.length;) {
    const step = ids.slice(start, start === 0 ? prefill : start + 1);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(step, [1, step.length]),
      attention_mask: int64(new Array(start + step.length).fill(1), [1, start + step.length]),
      ...past,
    };
    if (s.inputNames.includes('position_ids'))
      feeds.position_ids = int64(
        step.map((_, i) => start + i),
        [1, step.length],
      );
    const r = await s.run(feeds);
    out.push(floatValues(r.logits));
    past = presentToPast(r, d.layers.length);
    start += step.length;
  }
  return out;
}

export const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

export function cliJson(args: string[]) {
  const r = runCli([...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** Plain onnxruntime-node (not our session wrapper) runs the exported model: finite logits of the right shape. */
export async function assertLoadsInPlainOrt(file: string) {
  const s = await ort.InferenceSession.create(file);
  const d = loadDecoder(file);
  const [l] = await logits(s, d, IDS.slice(0, 8));
  assert.equal(l.length, 8 * d.config.vocab);
  assert.ok(l.every(Number.isFinite), `${file}: non-finite logits`);
}

const common = ['--calib', demoText, '--seq-len', '32', '--calib-windows', '8', '--provider', 'cpu'];

/** `compress --method flap` to 80 % into `out`: fewer parameters, exported perplexity = masked; returns its JSON. */
export function compressFlap(file: string, out: string) {
  const r = cliJson([
    'compress',
    file,
    '--ratio',
    '0.8',
    '--method',
    'flap',
    '--out',
    out,
    '--fitness-windows',
    '4',
    ...common,
  ]);
  assert.ok(r.params.after < r.params.before);
  assert.ok(
    Math.abs(r.ppl.exported - r.ppl.after) / r.ppl.after <= 1e-4,
    `exported ${r.ppl.exported} vs masked ${r.ppl.after}`,
  );
  return r;
}

/** `sparsify --method wanda` at 50 % into `out`; its export loads in plain onnxruntime-node. */
export async function sparsifyWanda(file: string, out: string) {
  const s = cliJson([
    'sparsify',
    file,
    '--method',
    'wanda',
    '--sparsity',
    '0.5',
    '--out',
    out,
    '--eval-windows',
    '4',
    ...common,
  ]);
  assert.ok(Number.isFinite(s.after.ppl));
  await assertLoadsInPlainOrt(path.join(out, 'model.onnx'));
}

/** transformers.js loads the folder `root/name` offline and generates, greedily, the tokens our runtime generates. */
export async function assertTransformersJsGenerates(root: string, name: string) {
  const { AutoModelForCausalLM, AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = `${root}/`;
  const tok = await AutoTokenizer.from_pretrained(name);
  const model = await AutoModelForCausalLM.from_pretrained(name, { subfolder: '', dtype: 'fp32', device: 'cpu' });
  const generated = (await model.generate({ ...tok('Once upon a time'), max_new_tokens: 12, do_sample: false })) as {
    tolist(): bigint[][];
  };
  const theirs = generated.tolist()[0].map(Number);
  const file = path.join(root, name, 'model.onnx');
  const s = await createSession(file, { provider: 'cpu' });
  const ours = await generateGreedy(s.session, loadDecoder(file).layers, theirs.slice(0, 5), {
    maxTokens: theirs.length,
    stopIds: [],
  });
  assert.deepEqual(theirs, ours);
}
