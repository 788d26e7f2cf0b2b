// Perplexity of every stage of a compression (original, masks, reformed, exported file) on each window set, one
// model in memory at a time: at 7B each holds the weights, so four open sessions would need four copies.
import type { Decoder } from '../model/decoder';
import { MaskedEvaluator } from '../compress/maskedEvaluator';
import { fullMask, type SubnetMask } from '../compress/subnet';
import { modelFileSession } from '../runtime/decoderSession';
import type { LayerwiseOptions } from '../compress/calibration';
import { batchShape, perplexity, windowsNll, type NllSum } from '../runtime/perplexity';
import type { MeasureProgress } from './measureModel';

export interface PplSet {
  before: number;
  search: number;
  after: number;
  exported: number;
  tokens: number;
}

export interface StageModels {
  original: Decoder;
  /** The original with the masks' compensation biases (or the original itself). */
  masked: Decoder;
  reformed: Decoder;
  mask: SubnetMask;
  exportedFile: string;
  exported: Decoder;
}

/**
 * Each window set's NLL through one model, opened once and released before the next. Sets of windows of one
 * length go through in one call: a model measured layer by layer then makes one pass, not one per set.
 */
async function through(
  open: () => Promise<{ nll(w: number[][]): Promise<NllSum>; release(): Promise<void> }>,
  sets: number[][][],
): Promise<NllSum[]> {
  const model = await open();
  try {
    const all = sets.flat();
    if (all.length === 0 || !all.every((w) => w.length === all[0].length)) {
      const out: NllSum[] = [];
      for (const w of sets) out.push(await model.nll(w));
      return out;
    }
    const r = await model.nll(all);
    let at = 0;
    return sets.map((w) => {
      const perWindow = r.perWindow.slice(at, (at += w.length));
      return {
        nll: perWindow.reduce((a, x) => a + x, 0),
        tokens: w.reduce((a, x) => a + x.length - 1, 0),
        seconds: (r.seconds * w.length) / all.length,
        perWindow,
      };
    });
  } finally {
    await model.release();
  }
}

/**
 * `onProgress` counts, per model, its windows, or its layers where it is measured layer by layer (a 7B: minutes
 * each).
 */
export async function stagePerplexities(
  m: StageModels,
  sets: number[][][],
  session: LayerwiseOptions,
  onProgress?: MeasureProgress,
): Promise<{ sets: PplSet[]; provider: string; nll: { after: NllSum[]; exported: NllSum[] } }> {
  const masked = (d: Decoder, mask: SubnetMask, stage: string) => async () => {
    const what = `perplexity of ${stage}`;
    const onLayer = (done: number, total: number) => onProgress?.(what, done, total, 'layers');
    const e = await MaskedEvaluator.open(d, { ...session, onLayer }, undefined, 'once');
    return {
      nll: (w: number[][]) => e.nll(mask, w, undefined, (done) => onProgress?.(what, done, w.length, 'windows')),
      release: () => e.release(),
    };
  };
  let provider = '';
  const before = await through(masked(m.original, fullMask(m.original), 'original'), sets);
  const search = await through(masked(m.masked, m.mask, 'the masks'), sets);
  const after = m.reformed === m.masked ? search : await through(masked(m.reformed, m.mask, 'reformed'), sets);
  const exported = await through(async () => {
    const s = await modelFileSession(m.exportedFile, m.exported, session);
    provider = s.provider;
    return {
      nll: (w: number[][]) =>
        windowsNll(s.session, w, {
          layers: m.exported.layers,
          shape: batchShape(m.exported),
          signal: session.signal,
          onBatch: (done) => onProgress?.('perplexity of the export', done, w.length, 'windows'),
        }),
      release: () => s.session.release(),
    };
  }, sets);
  return {
    sets: sets.map((_, i) => ({
      before: perplexity(before[i]),
      search: perplexity(search[i]),
      after: perplexity(after[i]),
      exported: perplexity(exported[i]),
      tokens: after[i].tokens,
    })),
    provider,
    nll: { after, exported },
  };
}
