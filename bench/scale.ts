// `npm run bench -- scale`: the engine on models of real shapes with RANDOM weights (bench/randomModels.ts), each
// measurement in a process of its own for its peak RSS. Here: per-stage time and memory at 2, 4 and 8 layers of
// TinyLlama's layer shape, TinyLlama-1.1B-shaped fp16 and bf16 models compressed end to end, a llama2.c .bin over 2 GiB,
// and eval on a 50 MB text. bench/gpu.sh runs the same worker on a GPU machine.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { machine, root, timedCli, validText, workDir, writeResults, fixtures } from './lib';
import { SHAPES, scaleShape, writeRandomModel } from './randomModels';
import { writeRandomLlama2c } from './randomLlama2c';
import type { CompressRun, LinalgRequest, StagesRequest, WorkerResult } from './scaleWorker';

const GiB = 2 ** 30;
const STAGES = ['statistics + scores', 'fitness evaluation', 'reformation', 'export'] as const;
export const SCALE_SETUP = { seqLen: 512, calibWindows: 8, fitnessWindows: 20, ratio: 0.8 };

/** One scale measurement in a process of its own (bench/scaleWorker.ts). */
export function worker(request: StagesRequest | CompressRun | LinalgRequest): WorkerResult {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'bench', 'scaleWorker.ts'), JSON.stringify(request)],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) throw new Error(`scale worker failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as WorkerResult;
}

const gib = (b: number) => (b / GiB).toFixed(2);
const s = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(1)} s`);

export async function benchScale(): Promise<void> {
  const dir = path.join(workDir, 'scale');
  fs.mkdirSync(dir, { recursive: true });

  // 1. Depth: 2, 4, 8 layers of hidden 2048 / MLP 5632 / 32 heads / 8 KV heads, fp32.
  const depth = [2, 4, 8].map((layers) => {
    const model = writeRandomModel(scaleShape(layers), 'float32', path.join(dir, `layers-${layers}`));
    const r = worker({ mode: 'stages', model, text: validText, provider: 'cpu', ...SCALE_SETUP });
    console.log(`${layers} layers: ${JSON.stringify(r.seconds)}, peak RSS ${gib(r.maxRssBytes)} GiB`);
    return { layers, ...r };
  });
  const perLayer = (stage: (typeof STAGES)[number], a: number, b: number) =>
    (depth[b].seconds[stage] - depth[a].seconds[stage]) / (depth[b].layers - depth[a].layers);
  const growth = Object.fromEntries(
    STAGES.map((st) => [st, { from2to4: perLayer(st, 0, 1), from4to8: perLayer(st, 1, 2) }]),
  );
  const total = (i: number) => STAGES.reduce((a, st) => a + depth[i].seconds[st], 0);
  const growthTotal = { from2to4: (total(1) - total(0)) / 2, from4to8: (total(2) - total(1)) / 4 };

  // 2. TinyLlama-1.1B-shaped, fp16: compress with FLAP, and the quick search preset on reduced fitness windows;
  // bf16: compress with FLAP.
  const tiny = (type: 'float16' | 'bfloat16') =>
    writeRandomModel(SHAPES['tinyllama-1.1b'], type, path.join(dir, `tinyllama-1.1b-${type}`));
  const runs = [
    { method: 'flap', type: 'float16' },
    { method: 'search', type: 'float16' },
    { method: 'flap', type: 'bfloat16' },
  ] as const;
  const compressRuns = runs.map(({ method, type }) => {
    const out = path.join(dir, `tinyllama-${type}-${method}`);
    fs.rmSync(out, { recursive: true, force: true });
    fs.rmSync(`${out}.partial`, { recursive: true, force: true });
    const request = {
      model: tiny(type),
      calib: validText,
      out,
      ratio: 0.8,
      provider: 'cpu' as const,
      seqLen: 128,
      calibWindows: 8,
      fitnessWindows: 2,
      method,
      ...(method === 'search' ? { preset: 'quick' as const } : {}),
    };
    const r = worker({ mode: 'compress', request });
    const exported = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype as string;
    // A broken export must not pass as a timing (JSON would print its NaN perplexity as null).
    if (!Number.isFinite(r.ppl)) throw new Error(`tinyllama ${type} ${method}: exported perplexity ${r.ppl}`);
    console.log(
      `tinyllama ${type} ${method}: ${JSON.stringify(r.seconds)}, peak RSS ${gib(r.maxRssBytes)} GiB, export ${exported}`,
    );
    return { method, type, request, exportedDtype: exported, ...r };
  });

  // 3. A llama2.c .bin over 2 GiB: convert, inspect, eval.
  const bin = writeRandomLlama2c(path.join(dir, 'big.bin'), {
    dim: 2048,
    hidden: 5632,
    layers: 11,
    heads: 32,
    kvHeads: 32,
    vocab: 32000,
    seqLen: 2048,
  });
  const converted = path.join(dir, 'big-onnx');
  fs.rmSync(converted, { recursive: true, force: true });
  const binRuns = {
    bytes: fs.statSync(bin).size,
    convert: timedCli([
      'convert',
      bin,
      '--out',
      converted,
      '--tokenizer',
      path.join(fixtures, 'llama2c', 'tokenizer.bin'),
    ]),
    inspect: timedCli(['inspect', path.join(converted, 'model.onnx')]),
    eval: timedCli([
      'eval',
      path.join(converted, 'model.onnx'),
      '--text',
      validText,
      '--windows',
      '2',
      '--seq-len',
      '256',
      '--provider',
      'cpu',
    ]),
  };
  console.log(
    `.bin of ${gib(binRuns.bytes)} GiB: convert ${s(binRuns.convert.seconds)}, eval ${s(binRuns.eval.seconds)}`,
  );

  // 4. eval --windows 4 on a 50 MB text: only what the windows need is read and tokenized.
  const longText = path.join(dir, 'long.txt');
  if (!fs.existsSync(longText)) {
    const chunk = fs.readFileSync(validText);
    const fd = fs.openSync(longText, 'w');
    for (let written = 0; written < 50e6; written += chunk.length) fs.writeSync(fd, chunk);
    fs.closeSync(fd);
  }
  const longEval = timedCli([
    'eval',
    path.join(fixtures, 'onnx', 'stories260K-llama', 'model.onnx'),
    '--text',
    longText,
    '--windows',
    '4',
    '--provider',
    'cpu',
  ]);

  const weights = (i: number) => depth[i].weightBytes;
  const md = [
    `RANDOM weights (bench/randomModels.ts; speed and memory do not depend on the values), ${machine()}, CPU execution provider. Stages as \`compress\` runs them: statistics + scores = the layer-by-layer calibration pass with all four importance scores (${SCALE_SETUP.calibWindows} windows × ${SCALE_SETUP.seqLen}); one fitness evaluation = the masked model on ${SCALE_SETUP.fitnessWindows} × ${SCALE_SETUP.seqLen} tokens; reformation of o_proj/down_proj of every layer keeping 3 of each KV group's 4 query heads and 80 % of the MLP channels (the same work per layer; FLAP's global masks keep some modules whole, which reformation skips); export of the sliced model. Each model in a fresh process; peak RSS is the process's.`,
    '',
    '| layers (hidden 2048, MLP 5632, 32/8 heads, fp32) | weights | statistics + scores | one fitness evaluation | reformation | export | peak RSS | peak RSS − weights |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...depth.map(
      (r, i) =>
        `| ${r.layers} | ${gib(weights(i))} GiB | ${s(r.seconds['statistics + scores'])} | ${s(r.seconds['fitness evaluation'])} | ${s(r.seconds.reformation)} | ${s(r.seconds.export)} | ${gib(r.maxRssBytes)} GiB | ${gib(r.maxRssBytes - weights(i))} GiB |`,
    ),
    '',
    `Added time per layer, 4→8 layers vs 2→4 (target ≤ 1.3): ${STAGES.map((st) => `${st} ${(growth[st].from4to8 / growth[st].from2to4).toFixed(2)}`).join(', ')}; all four stages together ${(growthTotal.from4to8 / growthTotal.from2to4).toFixed(2)}.`,
    '',
    '| TinyLlama-1.1B shape (random weights) | stages (s) | total | peak RSS | weights | export | perplexity of the export |',
    '| --- | --- | ---: | ---: | ---: | --- | ---: |',
    ...compressRuns.map(
      (r) =>
        `| ${r.type === 'float16' ? 'fp16' : 'bf16'}: \`compress --method ${r.method}${r.method === 'search' ? ' --preset quick' : ''}\` (seq 128, ${r.request.calibWindows} calibration windows, ${r.request.fitnessWindows} fitness windows) | ${Object.entries(
          r.seconds,
        )
          .map(([k, v]) => `${k} ${v.toFixed(0)}`)
          .join(
            ', ',
          )} | ${s(Object.values(r.seconds).reduce((a, b) => a + b, 0))} | ${gib(r.maxRssBytes)} GiB | ${gib(r.weightBytes)} GiB | ${r.exportedDtype}, loads in plain onnxruntime-node | ${r.ppl!.toFixed(0)} |`,
    ),
    '',
    `A llama2.c \`.bin\` of ${gib(binRuns.bytes)} GiB (random weights, 11 layers of 2048/5632, vocabulary 32000): \`convert\` ${s(binRuns.convert.seconds)} (peak RSS ${gib(binRuns.convert.maxRssBytes)} GiB), \`inspect\` of its ONNX ${s(binRuns.inspect.seconds)}, \`eval --windows 2 --seq-len 256\` ${s(binRuns.eval.seconds)} (peak RSS ${gib(binRuns.eval.maxRssBytes)} GiB).`,
    '',
    `\`eval --windows 4\` of stories260K on a ${(fs.statSync(longText).size / 1e6).toFixed(0)} MB text: ${s(longEval.seconds)}, peak RSS ${gib(longEval.maxRssBytes)} GiB.`,
  ].join('\n');
  writeResults(
    'scale',
    {
      machine: machine(),
      weights: 'random',
      setup: SCALE_SETUP,
      depth,
      growth,
      growthTotal,
      compress: compressRuns,
      bin: binRuns,
      longEval,
    },
    md,
  );
}
