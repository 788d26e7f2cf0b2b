// A weight stage's per-linear profile (paper-spec §4): OWL's per-layer sparsities, or EvoPress's searched levels
// (sparsities at an exact average, or int4/int8 bit widths under a file-size budget), ready for sparsifyDecoder.
import * as fs from 'node:fs';
import { floatBytes, type Decoder } from '../../model/decoder';
import type { LayerwiseOptions } from '../calibration';
import { sparsegpt } from '../sparsify/sparsegpt';
import { linalgOn, type Linalg } from '../../linalg/graphs';
import { pruneByScore } from '../sparsify/wanda';
import { columnNorms } from '../../runtime/activationStats';
import { gptqQuantizer, quantizeRtn } from '../quantize/nbits';
import { factorCache, type WeightStage } from '../sparsify/sparsifyDecoder';
import { LINEARS } from '../sparsify/layerwiseWeights';
import { DEFAULT_HALVING } from '../search/fitness';
import { LevelDatabase, type LevelTransform } from './database';
import { ProfileFitness } from './evaluator';
import { owlLevels } from './owl';
import { PROFILE_SCHEDULE, searchProfile, type ProfileGeneration, type ProfileSchedule } from './search';
import { profileSpace, sparsityLevels, type Profile, type ProfileSpace } from './space';
import { totalCounts } from '../../model/params';

export const PROFILE_KINDS = ['uniform', 'owl', 'search'] as const satisfies readonly NonNullable<
  WeightStage['profile']
>[];
export type ProfileKind = (typeof PROFILE_KINDS)[number];

/** Sparsity levels of the search: the target ± 6 steps of 5 points, within [0, 0.95]. */
export const SPARSITY_STEP = 0.05;
export const SPARSITY_SPAN = 6;
export const SPARSITY_MAX = 0.95;
/** Mixed precision: int4 and int8 under the file size of uniform int4 plus this fraction. */
export const BITS_BUDGET = 0.1;

export interface ProfileOptions {
  kind: ProfileKind;
  /** A folder of the job's own, for the database; removed when the search ends. */
  scratch: string;
  /** Fitness windows: the first this many calibration windows (default all of them; fewer overfit, see search.ts). */
  fitnessWindows?: number;
  schedule?: ProfileSchedule;
  seed?: number;
  onGeneration?: (g: ProfileGeneration) => void;
}

/** What the report says of a profile. */
export interface ProfileReport {
  kind: ProfileKind;
  /** What the levels are: sparsities, or bit widths. */
  of: 'sparsity' | 'bits';
  /** `levels[layer][linear]`, linears in the order q, k, v, o, gate, up, down. */
  levels: number[][];
  /** Σ params · level / Σ params over the linears. */
  average: number;
  search?: {
    startPpl: number;
    ppl: number;
    evaluations: number;
    generations: ProfileGeneration[];
    /** The database: its bytes on disk (removed after the search) and the seconds it took to build. */
    database: { bytes: number; seconds: number };
    /** The search's own seconds, after the database. */
    seconds: number;
  };
}

/** Every linear of every layer as a profile unit, with its parameter count. */
export const unitsOf = (d: Decoder) =>
  d.layerWeights.flatMap((lw, layer) =>
    LINEARS.map(({ key }, index) => ({ layer, index, params: lw[key].shape[0] * lw[key].shape[1] })),
  );

function toLevels(d: Decoder, sp: ProfileSpace, p: Profile): number[][] {
  const levels = d.layerWeights.map(() => new Array<number>(LINEARS.length).fill(0));
  sp.units.forEach((u, i) => (levels[u.layer][u.index] = sp.levels[p[i]]));
  return levels;
}

/** One linear pruned at every level by the stage's method, SparseGPT's factor made once for all of them. */
function pruneAtLevels(stage: WeightStage, la: Linalg): LevelTransform {
  const method = stage.sparsity!.method;
  const factors = factorCache(la);
  return async (values, [K, N], site, stats, levels, signal) => {
    const st = stats[site.point];
    const factor = method === 'sparsegpt' ? await factors(stats, site.point) : undefined;
    const out: Float32Array[] = [];
    for (const s of levels) {
      signal?.throwIfAborted();
      const pattern = { kind: 'unstructured' as const, sparsity: s };
      if (s === 0) out.push(values);
      else if (factor)
        out.push(await sparsegpt(la, values, K, N, factor, pattern, { selection: stage.sparsity!.selection }));
      else out.push(pruneByScore(values, K, N, pattern, method === 'wanda' ? columnNorms(st) : undefined));
    }
    return out;
  };
}

/** One linear quantized at every bit width (GPTQ with the stage's `gptq`), dequantized; records its int4 damage. */
function quantizeAtLevels(stage: WeightStage, damage: Map<string, number>, la: Linalg): LevelTransform {
  const q = stage.quant!;
  const factors = factorCache(la);
  return async (values, [K, N], site, stats, levels, signal) => {
    const st = stats[site.point];
    const factor = q.gptq ? await factors(stats, site.point) : undefined;
    const out: Float32Array[] = [];
    for (const bits of levels as (4 | 8)[]) {
      signal?.throwIfAborted();
      const o = { ...q, bits };
      out.push(
        factor
          ? await sparsegpt(la, values, K, N, factor, undefined, { quant: gptqQuantizer(K, N, o) })
          : quantizeRtn(values, K, N, o).dequantized,
      );
    }
    // int4's output error energy through the diagonal of XᵀX: which linears int8 helps most.
    const int4 = out[levels.indexOf(4)];
    let e = 0;
    for (let j = 0; j < K; j++)
      for (let c = 0; c < N; c++) e += (values[j * N + c] - int4[j * N + c]) ** 2 * st.gram[j * st.dim + j];
    damage.set(`${site.layer}.${site.index}`, e);
    return out;
  };
}

async function searched(
  d: Decoder,
  windows: number[][],
  sp: ProfileSpace,
  start: () => Profile,
  transform: LevelTransform,
  p: ProfileOptions,
  o: LayerwiseOptions & { instead: string; density: (level: number) => number },
): Promise<{ profile: Profile; search: ProfileReport['search'] }> {
  try {
    const t0 = performance.now();
    const db = await LevelDatabase.build(d, windows, sp, transform, p.scratch, o);
    const database = { bytes: db.bytes, seconds: (performance.now() - t0) / 1000 };
    const fitnessWindows = windows.slice(0, p.fitnessWindows ?? windows.length);
    const fitness = await ProfileFitness.open(d, sp, db, fitnessWindows, DEFAULT_HALVING, o);
    const t1 = performance.now();
    try {
      const r = await searchProfile(sp, start(), fitness, p.schedule ?? PROFILE_SCHEDULE, p.seed ?? 0, {
        signal: o.signal,
        onGeneration: p.onGeneration,
      });
      return {
        profile: r.profile,
        search: {
          startPpl: r.startPpl,
          ppl: r.ppl,
          evaluations: fitness.evaluations,
          generations: r.history,
          database,
          seconds: (performance.now() - t1) / 1000,
        },
      };
    } finally {
      await fitness.release();
    }
  } finally {
    fs.rmSync(p.scratch, { recursive: true, force: true });
  }
}

/** Per-linear sparsities averaging exactly `stage.sparsity`'s (unstructured) fraction. */
export async function sparsityProfile(
  d: Decoder,
  windows: number[][],
  stage: WeightStage,
  p: ProfileOptions,
  o: LayerwiseOptions,
): Promise<ProfileReport> {
  const pattern = stage.sparsity!.pattern;
  if (pattern.kind !== 'unstructured') throw new Error('a sparsity profile needs unstructured sparsity');
  const target = pattern.sparsity;
  const units = unitsOf(d);
  const report = (levels: number[][], search?: ProfileReport['search']): ProfileReport => ({
    kind: p.kind,
    of: 'sparsity',
    levels,
    average: weighted(units, levels),
    search,
  });
  if (p.kind === 'uniform') return report(d.layerWeights.map(() => LINEARS.map(() => target)));
  if (p.kind === 'owl') {
    const perLayer = await owlLevels(d, windows, target, o);
    return report(perLayer.map((s) => LINEARS.map(() => s)));
  }
  const sp = profileSpace(units, sparsityLevels(target, SPARSITY_STEP, SPARSITY_SPAN, SPARSITY_MAX));
  const uniform = units.map(() => sp.levels.indexOf(target));
  const r = await searched(d, windows, sp, () => uniform, pruneAtLevels(stage, linalgOn(o)), p, {
    ...o,
    instead: '--profile owl, which needs no database',
    density: (level) => 1 - level,
  });
  return report(toLevels(d, sp, r.profile), r.search);
}

/** Bytes of a linear `[K, N]` in MatMulNBits at `bits`: codes plus one float32 scale per block (and zero points). */
export function nbitsBytes(K: number, N: number, bits: number, blockSize: number, symmetric: boolean): number {
  const blocks = Math.ceil(K / blockSize);
  return N * blocks * ((blockSize * bits) / 8) + N * blocks * 4 + (symmetric ? 0 : N * Math.ceil((blocks * bits) / 8));
}

/**
 * Per-linear bit widths (4 or 8) whose linears fit in uniform int4's bytes plus `BITS_BUDGET` of the model's int4
 * file (embeddings and norms counted in the model's precision): int8 first for the linears int4 damages most, then searched.
 */
export async function bitsProfile(
  d: Decoder,
  windows: number[][],
  stage: WeightStage,
  p: ProfileOptions,
  o: LayerwiseOptions,
): Promise<ProfileReport> {
  const q = stage.quant!;
  const units = unitsOf(d);
  const shapes = units.map((u) => d.layerWeights[u.layer][LINEARS[u.index].key].shape);
  const bytes = (i: number, bits: number) => nbitsBytes(shapes[i][0], shapes[i][1], bits, q.blockSize, q.symmetric);
  const linearParams = units.reduce((a, u) => a + u.params, 0);
  const otherBytes = floatBytes(d.weightType) * (totalCounts(d).params - linearParams);
  const int4File = otherBytes + units.reduce((a, _, i) => a + bytes(i, 4), 0);
  const report = (levels: number[][], search?: ProfileReport['search']): ProfileReport => ({
    kind: p.kind,
    of: 'bits',
    levels,
    average: weighted(units, levels),
    search,
  });
  if (p.kind !== 'search')
    throw new Error(`mixed bit widths are searched; --profile ${p.kind} has no meaning for --bits`);
  // Switches exchange int8 for int4 between linears whose int8 costs the same extra bytes, so the size stays.
  const sp = profileSpace(units, [4, 8], (i) => bytes(i, 8) - bytes(i, 4));
  const damage = new Map<string, number>();
  const start = (): Profile => {
    const profile = units.map(() => 0);
    let spare = BITS_BUDGET * int4File;
    const order = units
      .map((u, i) => ({ i, gain: damage.get(`${u.layer}.${u.index}`)! / (bytes(i, 8) - bytes(i, 4)) }))
      .sort((a, b) => b.gain - a.gain);
    for (const { i } of order) {
      const extra = bytes(i, 8) - bytes(i, 4);
      if (extra <= spare) {
        profile[i] = 1;
        spare -= extra;
      }
    }
    return profile;
  };
  const r = await searched(d, windows, sp, start, quantizeAtLevels(stage, damage, linalgOn(o)), p, {
    ...o,
    instead: '--profile uniform (int4 everywhere), which needs no database',
    density: () => 1,
  });
  return report(toLevels(d, sp, r.profile), r.search);
}

function weighted(units: { layer: number; index: number; params: number }[], levels: number[][]): number {
  return units.reduce((a, u) => a + u.params * levels[u.layer][u.index], 0) / units.reduce((a, u) => a + u.params, 0);
}
