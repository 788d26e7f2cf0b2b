// `npm run bench -- scale-7b`: a whole Llama-2-7B-shaped fp16 model (32 layers, 12.6 GiB, RANDOM weights) through
// the CLI on this machine: eval, `compress --method flap` and `sparsify --method wanda`, each in a process of its own
// with its peak RSS, the compress stages timed from the job's own events. Short windows (128 tokens, 8 calibration
// windows) keep it within about 40 minutes on 2 cores; memory does not depend on them beyond one layer's work.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { machine, timedCli, validText, workDir, writeResults } from './lib';
import { SHAPES, writeRandomModel } from './randomModels';
import { worker } from './scale';
import { totalCounts } from '../src/model/params';
import { loadDecoder } from '../src/model/recognise';
import { checkFreeSpace } from '../src/util/freeSpace';
import type { WeightStageReport } from '../src/job/weightStage';
import type { ModelMeasure } from '../src/job/measureModel';

const SETUP = { seqLen: 128, calibWindows: 8, fitnessWindows: 2, evalWindows: 8 };
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

export async function benchScale7b(): Promise<void> {
  const dir = path.join(workDir, 'scale-7b');
  fs.mkdirSync(dir, { recursive: true });
  const model = writeRandomModel(SHAPES['llama-2-7b'], 'float16', path.join(dir, 'llama-2-7b-float16'));
  const weightBytes = totalCounts(loadDecoder(model)).bytes;
  // One export at a time beside the model: each is removed once measured.
  // sparsify's export and its file of sparsified linears (model/newWeights.ts) lie side by side until it ends.
  checkFreeSpace(dir, 2 * weightBytes, 'one export of the 7B at a time and its computed weights', 'free some disk');
  const seq = ['--seq-len', String(SETUP.seqLen)];

  const evaluation = timedCli(['eval', model, '--text', validText, '--windows', '2', ...seq, '--provider', 'cpu']);
  console.log(`eval: ${evaluation.seconds.toFixed(0)} s, peak RSS ${gib(evaluation.maxRssBytes)}`);

  const compressOut = path.join(dir, 'compress-flap');
  fs.rmSync(compressOut, { recursive: true, force: true });
  const compress = worker({
    mode: 'compress',
    request: {
      model,
      calib: validText,
      out: compressOut,
      ratio: 0.8,
      provider: 'cpu',
      seqLen: SETUP.seqLen,
      calibWindows: SETUP.calibWindows,
      fitnessWindows: SETUP.fitnessWindows,
      method: 'flap',
    },
  });
  const compressDtype = JSON.parse(fs.readFileSync(path.join(compressOut, 'config.json'), 'utf8')).torch_dtype;
  fs.rmSync(compressOut, { recursive: true, force: true });
  console.log(`compress: ${JSON.stringify(compress.seconds)}, peak RSS ${gib(compress.maxRssBytes)}`);

  const sparsifyOut = path.join(dir, 'sparsify-wanda');
  fs.rmSync(sparsifyOut, { recursive: true, force: true });
  const sparsify = timedCli([
    'sparsify',
    model,
    '--method',
    'wanda',
    '--sparsity',
    '0.5',
    '--calib',
    validText,
    ...seq,
    '--calib-windows',
    String(SETUP.calibWindows),
    '--eval-windows',
    String(SETUP.evalWindows),
    '--provider',
    'cpu',
    '--out',
    sparsifyOut,
    '--json',
  ]);
  const sparsifyReport = JSON.parse(sparsify.stdout) as WeightStageReport & { after: ModelMeasure };
  const sparsifyDtype = JSON.parse(fs.readFileSync(path.join(sparsifyOut, 'config.json'), 'utf8')).torch_dtype;
  fs.rmSync(sparsifyOut, { recursive: true, force: true });
  console.log(`sparsify: ${sparsify.seconds.toFixed(0)} s, peak RSS ${gib(sparsify.maxRssBytes)}`);

  // Round-to-nearest int4: its packed linears (3.8 GiB with their fp32 scales) go to the new-weights file past 1 GiB, like sparsify's.
  const quantizeOut = path.join(dir, 'quantize-int4');
  fs.rmSync(quantizeOut, { recursive: true, force: true });
  const quantize = timedCli([
    'quantize',
    model,
    '--bits',
    '4',
    '--calib',
    validText,
    ...seq,
    '--eval-windows',
    String(SETUP.evalWindows),
    '--provider',
    'cpu',
    '--out',
    quantizeOut,
    '--json',
  ]);
  const quantizeReport = JSON.parse(quantize.stdout) as WeightStageReport & { after: ModelMeasure };
  fs.rmSync(quantizeOut, { recursive: true, force: true });
  console.log(`quantize: ${quantize.seconds.toFixed(0)} s, peak RSS ${gib(quantize.maxRssBytes)}`);

  const over = (b: number) => gib(b - weightBytes);
  const md = [
    `RANDOM weights (bench/randomModels.ts), ${machine()}, CPU execution provider. A whole Llama-2-7B-shaped fp16 model (32 layers, hidden 4096, MLP 11008, 32 heads, vocabulary 32000; weights ${gib(weightBytes)} in one external-data file), ${SETUP.seqLen}-token windows; each command in a process of its own.`,
    '',
    '| command | time | stages (s) | peak RSS | peak RSS − weights | export |',
    '| --- | ---: | --- | ---: | ---: | --- |',
    `| \`eval --windows 2\` | ${evaluation.seconds.toFixed(0)} s | | ${gib(evaluation.maxRssBytes)} | ${over(evaluation.maxRssBytes)} | |`,
    `| \`compress --method flap --ratio 0.8\` (${SETUP.calibWindows} calibration windows, ${SETUP.fitnessWindows} for reformation) | ${Object.values(
      compress.seconds,
    )
      .reduce((a, b) => a + b, 0)
      .toFixed(0)} s | ${Object.entries(compress.seconds)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(
        ', ',
      )} | ${gib(compress.maxRssBytes)} | ${over(compress.maxRssBytes)} | ${compressDtype}, perplexity ${compress.ppl!.toFixed(0)} |`,
    `| \`sparsify --method wanda --sparsity 0.5\` (${SETUP.calibWindows} calibration windows, ${SETUP.evalWindows} measured) | ${sparsify.seconds.toFixed(0)} s | ${sparsifyReport.stageTimes.map((t) => `${t.stage} ${t.seconds.toFixed(0)}`).join(', ')} | ${gib(sparsify.maxRssBytes)} | ${over(sparsify.maxRssBytes)} | ${sparsifyDtype}, ${(100 * sparsifyReport.after.zeroFraction).toFixed(1)} % zeros, perplexity ${sparsifyReport.after.ppl.toFixed(0)} |`,
    `| \`quantize --bits 4\` (round to nearest, block 32; ${SETUP.evalWindows} windows measured) | ${quantize.seconds.toFixed(0)} s | ${quantizeReport.stageTimes.map((t) => `${t.stage} ${t.seconds.toFixed(0)}`).join(', ')} | ${gib(quantize.maxRssBytes)} | ${over(quantize.maxRssBytes)} | int4, file ${gib(quantizeReport.after.fileBytes)}, perplexity ${quantizeReport.after.ppl.toFixed(0)} |`,
  ].join('\n');
  writeResults(
    'scale-7b',
    { machine: machine(), weights: 'random', setup: SETUP, weightBytes, evaluation, compress, sparsify, quantize },
    md,
  );
}
