// `npm run bench -- layer-memory`: the layer-by-layer statistics pass (what calibration, reformation and SparseGPT
// run per layer) of a 2-layer Llama-2-7B-shaped fp16 model with RANDOM weights at the default 2048 tokens, batched
// as the engine now does (attention scores within 64 MiB: one window) and as every layer pass did before (4 windows);
// each run in a process of its own, alternated, peak RSS per process.
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { machine, root, validText, workDir, writeResults } from './lib';
import { SHAPES, writeRandomModel } from './randomModels';
import type { LayerMemoryRequest } from './layerMemoryWorker';
import { totalCounts } from '../src/model/params';
import { loadDecoder } from '../src/model/recognise';

const SETUP = { seqLen: 2048, windows: 8 };
const ROUNDS = 2;

interface Run {
  batch: number;
  seconds: number;
  maxRssBytes: number;
}

function run(request: LayerMemoryRequest): Run {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'bench', 'layerMemoryWorker.ts'), JSON.stringify(request)],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`layer-memory worker failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Run;
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

export async function benchLayerMemory(): Promise<void> {
  const shape = { ...SHAPES['llama-2-7b'], layers: 2 };
  const model = writeRandomModel(shape, 'float16', path.join(workDir, 'layer-memory', 'llama-2-7b-2layers-float16'));
  const weightBytes = totalCounts(loadDecoder(model)).bytes;
  const runs: { way: 'now' | 'before'; run: Run }[] = [];
  for (let round = 0; round < ROUNDS; round++)
    for (const way of ['now', 'before'] as const) {
      const r = run({ model, text: validText, ...SETUP, batch: way === 'now' ? 'auto' : 4 });
      console.log(`${way}: ${JSON.stringify(r)}`);
      runs.push({ way, run: r });
    }
  const of = (way: 'now' | 'before') => runs.filter((r) => r.way === way).map((r) => r.run);
  const row = (way: 'now' | 'before', label: string) =>
    `| ${label} | ${of(way)[0].batch} | ${of(way)
      .map((r) => `${r.seconds.toFixed(0)} s`)
      .join(', ')} | ${of(way)
      .map((r) => gib(r.maxRssBytes))
      .join(', ')} |`;
  const md = [
    `RANDOM weights (bench/randomModels.ts), ${machine()}, CPU execution provider. One layer-by-layer statistics pass (all four capture points, each layer on the last one's outputs) of a 2-layer Llama-2-7B-shaped fp16 model (hidden 4096, MLP 11008, 32 heads; weights ${gib(weightBytes)}) over ${SETUP.windows} windows of ${SETUP.seqLen} tokens; ${ROUNDS} rounds, the two ways alternated, each run in a process of its own.`,
    '',
    '| batches | windows a batch | pass | peak RSS |',
    '| --- | ---: | ---: | ---: |',
    row('now', 'now: attention scores and logits within 64 MiB (`batchFor`)'),
    row('before', 'before: 4 windows a batch whatever the length'),
  ].join('\n');
  writeResults('layer-memory', { machine: machine(), weights: 'random', setup: SETUP, weightBytes, runs }, md);
}
