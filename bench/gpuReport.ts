// `node --import tsx bench/gpuReport.ts <gpu-results folder>`: turns what bench/gpu.sh brought back into
// bench/results/gpu.json and gpu.md (and the README table), with the GPU named.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeResults } from './lib';
import type { WorkerResult } from './scaleWorker';

interface Step {
  ok: boolean;
  seconds: number;
  result?: WorkerResult | string;
  error?: string;
}

/** The paper's schedule: 50 generations × 100 candidates (paper-spec §1.8), each on ~10k fitness tokens. */
const PAPER_CANDIDATES = 5000;
/** What early rejection measured on the fixtures (bench search: 0.40–0.49 of the plain schedule's tokens). */
const EARLY_REJECTION_TOKENS = 0.49;

function main(): void {
  const dir = process.argv[2];
  const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').trim();
  const gpu = read('gpu.txt');
  const cores = read('cores.txt');
  const steps = JSON.parse(read('results.json')) as Record<string, Step | string>;
  const step = (name: string) => steps[name] as Step;
  const fitnessIn = (compute: string) => {
    const s = step(`webgpu: fitness on the whole 7B, ${compute} arithmetic`);
    return s?.ok ? (s.result as WorkerResult) : undefined;
  };
  // The engine's arithmetic on WebGPU is fp16; the fp32 run is the comparison.
  const [f, single] = [fitnessIn('float16'), fitnessIn('float32')];
  const perCandidate = f?.seconds['fitness evaluation'];
  const hours = (s: number) => (s / 3600).toFixed(1);
  const rows = Object.entries(steps)
    .filter(([, v]) => typeof v === 'object')
    .map(([name, v]) => {
      const s = v as Step;
      const what = s.ok
        ? typeof s.result === 'string'
          ? 'written'
          : Object.entries((s.result as WorkerResult).seconds)
              .map(([k, t]) => {
                const error = (s.result as WorkerResult).errors?.[k];
                return `${k} ${t.toFixed(1)} s${error === undefined ? '' : ` (max \\|A·X − I\\| ${error.toExponential(1)})`}`;
              })
              .join(', ')
        : s.error!.split('\n')[0].slice(0, 160);
      return `| ${name} | ${s.ok ? 'done' : 'not finished'} | ${s.seconds.toFixed(0)} s | ${what} |`;
    });
  const md = [
    `${gpu} (${cores} cores), WebGPU through Vulkan, onnxruntime-node 1.30; Llama-2-7B-shaped fp16 models with RANDOM weights written there by bench/gpuRun.ts (fitness windows 5 × 2048 tokens, calibration 8 × 2048).`,
    '',
    '| step | outcome | wall | stages |',
    '| --- | --- | ---: | --- |',
    ...rows,
    '',
    perCandidate
      ? `One 10,240-token fitness evaluation of the whole 7B on WebGPU in fp16 arithmetic: ${perCandidate.toFixed(1)} s (target ≤ 10 s: ${perCandidate <= 10 ? 'met' : 'not met'}${single ? `; in fp32 arithmetic ${single.seconds['fitness evaluation'].toFixed(1)} s; perplexity of the random model ${f!.ppl!.toFixed(2)} vs ${single.ppl!.toFixed(2)}` : ''}), after ${f!.seconds['evaluator session'].toFixed(1)} s to open the session over ${(f!.weightBytes / 2 ** 30).toFixed(1)} GiB of fp16 weights, with ${(f!.maxRssBytes / 2 ** 30).toFixed(2)} GiB peak host memory. The paper's schedule (~${PAPER_CANDIDATES} candidates) at that rate: ${hours(PAPER_CANDIDATES * perCandidate)} h plain, about ${hours(PAPER_CANDIDATES * perCandidate * EARLY_REJECTION_TOKENS)} h with early rejection, against the paper's 5 h on an A100.`
      : 'The whole-7B fitness evaluation did not finish.',
  ].join('\n');
  writeResults(
    'gpu',
    {
      gpu,
      cores: Number(cores),
      weights: 'random',
      steps,
      projection: perCandidate
        ? {
            paperCandidates: PAPER_CANDIDATES,
            secondsPerCandidate: perCandidate,
            hoursPlain: (PAPER_CANDIDATES * perCandidate) / 3600,
            hoursWithEarlyRejection: (PAPER_CANDIDATES * perCandidate * EARLY_REJECTION_TOKENS) / 3600,
          }
        : undefined,
    },
    md,
  );
}

main();
