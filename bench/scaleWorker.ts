// One scale measurement in a process of its own (peak RSS is per process): `stages` times statistics + scores,
// one fitness evaluation, reformation and export of a model; `fitness` only opens and evaluates a whole model;
// `compress` runs the whole job and times its stages from the job's own events; `linalg` times the linear algebra
// of one linear at given input sizes on a provider (random matrices). Prints one JSON line. Used by bench/scale.ts here and by bench/gpu.sh on a GPU machine.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDecoder } from '../src/model/recognise';
import { loadModelTokenizer } from '../src/text/tokenizer';
import { consecutiveWindows, sampledWindows, tokenizePrefix } from '../src/text/windows';
import { denseCalibration } from '../src/compress/calibration';
import { selectGlobal } from '../src/compress/importance/select';
import { MaskedEvaluator } from '../src/compress/maskedEvaluator';
import { reformDecoder } from '../src/compress/reform/reformation';
import { fullMask, sliceDecoder, type SubnetMask } from '../src/compress/subnet';
import type { Decoder } from '../src/model/decoder';
import { writeModelFiles } from '../src/compress/exportModel';
import { totalCounts } from '../src/model/params';
import { compressModel } from '../src/job/compress';
import { linalgOn, type Linalg } from '../src/linalg/graphs';
import { withHostRows } from './reference/hostRows';
import { NS_ITERATIONS, newtonSchulzSession } from './reference/newtonSchulz';
import { calibrationGram, inverseError } from './grams';
import { dampedInverseDiagonal } from '../src/linalg/inverse';
import { DEFAULT_REFORM, reformLayer } from '../src/compress/reform/reformLayer';
import { obsFactor, sparsegpt } from '../src/compress/sparsify/sparsegpt';
import { transpose2d } from '../src/model/transpose';
import { seededRandom } from '../src/util/random';
import type { CompressRequest } from '../src/job/compressRequest';
import type { ProviderChoice } from '../src/runtime/session';

export interface StagesRequest {
  mode: 'stages';
  model: string;
  text: string;
  provider: ProviderChoice;
  seqLen: number;
  calibWindows: number;
  fitnessWindows: number;
  ratio: number;
}

/** Only the fitness evaluation of a whole model (a 7B on a GPU): session creation, then two evaluations. */
export interface FitnessRequest {
  mode: 'fitness';
  model: string;
  text: string;
  provider: ProviderChoice;
  seqLen: number;
  fitnessWindows: number;
  /** The arithmetic of fp16 weights' products (absent: the engine's choice for the provider). */
  compute?: 'float16' | 'float32';
}

/**
 * The linear algebra behind one linear of input size n (and 4096 outputs) on a provider: the damped inverse's diagonal (OBS
 * scores), reformation's solve for 80 % of the rows kept, and SparseGPT at 50 % (its factor of H⁻¹, then the
 * pruning with its block updates).
 */
export interface LinalgRequest {
  mode: 'linalg';
  provider: ProviderChoice;
  sizes: number[];
  /**
   * Also invert a calibration-like Gram matrix (bench/grams.ts) per size, through the engine's Cholesky factor and
   * by Newton–Schulz in MatMuls (bench/reference/newtonSchulz.ts), timed once each with their errors: which is the
   * faster on a GPU, and whether Newton–Schulz is accurate enough there.
   */
  inverses?: boolean;
}

export interface CompressRun {
  mode: 'compress';
  request: Omit<CompressRequest, 'onEvent' | 'signal'>;
}

export interface WorkerResult {
  seconds: Record<string, number>;
  /** Peak resident memory of the process at the end of each stage. */
  peakRssAfter: Record<string, number>;
  maxRssBytes: number;
  provider: string;
  weightBytes: number;
  params: number;
  ppl?: number;
  /** Errors of the steps that have one (the inverses: max |A·X − I|). */
  errors?: Record<string, number>;
}

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/** Times named stages into `seconds` and `peakRssAfter` (and `errors`, where a stage has one), a line per stage. */
function stageTimer() {
  const seconds: Record<string, number> = {};
  const peakRssAfter: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    const v = await f();
    seconds[name] = (performance.now() - t0) / 1000;
    peakRssAfter[name] = peakRss();
    // A line per stage, so a run cut short by its deadline still tells what it finished.
    process.stdout.write(`${JSON.stringify({ partial: { seconds, peakRssAfter, errors } })}\n`);
    return v;
  };
  return { seconds, peakRssAfter, errors, timed };
}

async function stages(r: StagesRequest): Promise<WorkerResult> {
  const { seconds, peakRssAfter, timed } = stageTimer();
  const d = await timed('load', () => loadDecoder(r.model));
  const ids = tokenizePrefix(r.text, loadModelTokenizer(r.model, d.config.vocab), 16 * r.calibWindows * r.seqLen);
  const session = { provider: r.provider };
  const calib = sampledWindows(ids, r.seqLen, r.calibWindows, 0);
  const fitness = consecutiveWindows(ids, r.seqLen, r.fitnessWindows);
  const cal = await timed('statistics + scores', () =>
    denseCalibration(d, calib, ['obs', 'wanda-sp', 'magnitude', 'flap'], 'head', session),
  );
  const mask = selectGlobal(d, cal.scores.get('flap')!, 'head', r.ratio * totalCounts(d).params);
  const evaluator = await timed('evaluator session', () => MaskedEvaluator.open(d, session, cal.means));
  const nll = await timed('fitness evaluation', () => evaluator.nll(mask, fitness));
  await evaluator.release();
  // Reformation skips a module that keeps every row, which FLAP's global masks leave in varying numbers per depth:
  // a mask pruning every layer alike gives every layer the same work, so the growth with depth shows.
  const even = evenMask(d);
  const reformed = await timed('reformation', () => reformDecoder(d, even, calib, DEFAULT_REFORM, session));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-scale-'));
  try {
    await timed('export', () => writeModelFiles(sliceDecoder(reformed.decoder, even), dir, undefined));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    seconds,
    peakRssAfter,
    maxRssBytes: peakRss(),
    provider: evaluator.provider,
    weightBytes: totalCounts(d).bytes,
    params: totalCounts(d).params,
    ppl: Math.exp(nll.nll / nll.tokens),
  };
}

/**
 * The same cut in every layer that slices as GQA needs: of each KV group's query heads the first 80 % (rounded down:
 * 3 of 4); without groups (MHA), 80 % of the heads; and 80 % of the MLP channels.
 */
function evenMask(d: Decoder): SubnetMask {
  return fullMask(d).map((m, l) => {
    const { heads, kvHeads } = d.layers[l];
    const group = heads / kvHeads;
    const keep = (h: number) =>
      group === 1 ? h < Math.floor(0.8 * heads) : h % group < Math.max(1, Math.floor(0.8 * group));
    return {
      ...m,
      heads: m.heads.map((_, h) => keep(h)),
      mlp: m.mlp.map((_, c) => c < Math.ceil(0.8 * m.mlp.length)),
    };
  });
}

/** A mask that keeps the first 80 % of every layer's heads and MLP channels: fitness costs the same for any mask. */
function firstChannels(d: Decoder): SubnetMask {
  return fullMask(d).map((m) => ({
    ...m,
    heads: m.heads.map((_, h) => h < Math.ceil(0.8 * m.heads.length)),
    mlp: m.mlp.map((_, c) => c < Math.ceil(0.8 * m.mlp.length)),
  }));
}

async function fitnessOnly(r: FitnessRequest): Promise<WorkerResult> {
  const { seconds, peakRssAfter, timed } = stageTimer();
  const d = loadDecoder(r.model);
  const windows = consecutiveWindows(
    tokenizePrefix(r.text, loadModelTokenizer(r.model, d.config.vocab), r.fitnessWindows * r.seqLen),
    r.seqLen,
    r.fitnessWindows,
  );
  const evaluator = await timed('evaluator session', () =>
    MaskedEvaluator.open(d, { provider: r.provider, compute: r.compute }),
  );
  let nll;
  for (const run of ['first fitness evaluation', 'fitness evaluation'])
    nll = await timed(run, () => evaluator.nll(firstChannels(d), windows));
  return {
    seconds,
    peakRssAfter,
    maxRssBytes: peakRss(),
    provider: evaluator.provider,
    weightBytes: totalCounts(d).bytes,
    params: totalCounts(d).params,
    ppl: Math.exp(nll!.nll / nll!.tokens),
  };
}

/**
 * XᵀX over 2n random positions, `[n, n]` in float64 as the calibration statistics hold it, accumulated 1024
 * positions at a time: X whole (8 n² bytes) would dwarf the memory being measured.
 */
async function randomGram(la: Linalg, n: number, rand: () => number): Promise<Float64Array> {
  const gram = new Float64Array(n * n);
  for (let p = 0; p < 2 * n; p += 1024) {
    const rows = Math.min(1024, 2 * n - p);
    const x = Float32Array.from({ length: rows * n }, () => rand() - 0.5);
    const part = await la.matmul(transpose2d(x, rows, n), x, n, rows, n);
    for (let i = 0; i < part.length; i++) gram[i] += part[i];
  }
  return gram;
}

async function linalg(r: LinalgRequest): Promise<WorkerResult> {
  const { seconds, peakRssAfter, errors, timed } = stageTimer();
  const la = linalgOn({ provider: r.provider });
  const rand = seededRandom(0);
  const out = 4096;
  for (const n of r.sizes) {
    const gram = await randomGram(la, n, rand);
    const w = Float32Array.from({ length: n * out }, () => rand() - 0.5);
    await timed(`diagonal of the damped inverse (OBS) n=${n}`, () => dampedInverseDiagonal(la, gram, n));
    const keep = Array.from({ length: Math.ceil(0.8 * n) }, (_, i) => i);
    const stats = { gram, sum: new Float64Array(n), count: 2 * n };
    await timed(`reformation n=${n}`, () => reformLayer(la, w, stats, n, out, keep, DEFAULT_REFORM));
    const factor = await timed(`SparseGPT factor n=${n}`, () => obsFactor(la, stats.gram, stats.count, n));
    await timed(`SparseGPT 50 % n=${n}`, () =>
      sparsegpt(la, w, n, out, factor, { kind: 'unstructured', sparsity: 0.5 }),
    );
    await timed(`SparseGPT 50 % n=${n}, later rows on the host (before)`, () =>
      sparsegpt(withHostRows(la), w, n, out, factor, { kind: 'unstructured', sparsity: 0.5 }),
    );
  }
  // After the engine's steps: their peak memory then compares with a run without these, and a run cut short here
  // keeps them.
  for (const n of r.inverses ? r.sizes : []) {
    const h = await calibrationGram(la, n);
    const viaFactor = `inverse, Cholesky factor n=${n}`;
    errors[viaFactor] = await inverseError(la, h, await timed(viaFactor, () => la.inverseSpd(h, n)), n);
    const newtonSchulz = await newtonSchulzSession({ provider: r.provider }, n, NS_ITERATIONS);
    const viaNewtonSchulz = `inverse, Newton–Schulz ${NS_ITERATIONS} iterations n=${n}`;
    try {
      const x = await timed(viaNewtonSchulz, () => newtonSchulz.invert(h));
      errors[viaNewtonSchulz] = await inverseError(la, h, x, n);
    } finally {
      await newtonSchulz.release();
    }
  }
  return { seconds, peakRssAfter, maxRssBytes: peakRss(), provider: r.provider, weightBytes: 0, params: 0, errors };
}

async function compress(c: CompressRun): Promise<WorkerResult> {
  const seconds: Record<string, number> = {};
  const peakRssAfter: Record<string, number> = {};
  let stage = 'open';
  let since = performance.now();
  const close = () => {
    seconds[stage] = (seconds[stage] ?? 0) + (performance.now() - since) / 1000;
    peakRssAfter[stage] = peakRss();
  };
  const report = await compressModel({
    ...c.request,
    onEvent: (e) => {
      if (e.type !== 'stage') return;
      close();
      stage = e.stage;
      since = performance.now();
    },
  });
  close();
  const d = loadDecoder(c.request.model);
  return {
    seconds,
    peakRssAfter,
    maxRssBytes: peakRss(),
    provider: report.latency.provider,
    weightBytes: totalCounts(d).bytes,
    params: totalCounts(d).params,
    ppl: report.ppl.exported,
  };
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2]) as StagesRequest | FitnessRequest | LinalgRequest | CompressRun;
  const result =
    request.mode === 'stages'
      ? await stages(request)
      : request.mode === 'fitness'
        ? await fitnessOnly(request)
        : request.mode === 'linalg'
          ? await linalg(request)
          : await compress(request);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

void main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
