import type { Decoder } from '../model/decoder';
import { IO, type BuildOptions } from '../graph/decoderGraph';
import { decoderSession, fitsInMemory } from '../runtime/decoderSession';
import { likelyProvider, ort } from '../runtime/session';
import { batchShape, windowsNll, type NllSum } from '../runtime/perplexity';
import { maskVectors, type SubnetMask } from './subnet';
import type { CompensationFlags, CompensationMeans } from './importance/compensation';
import type { LayerwiseOptions } from './calibration';
import { layerwiseNll } from './layerwiseNll';

/**
 * The masked evaluation graph's inputs for `mask`: every layer's head and channel masks and, with `means` (the
 * dense model's mean o_proj / down_proj inputs), FLAP's compensation per module as `compensate` says (all
 * modules when it is not given).
 */
export function maskFeeds(
  d: Decoder,
  mask: SubnetMask,
  means?: CompensationMeans,
  compensate?: CompensationFlags,
): Record<string, ort.Tensor> {
  const v = maskVectors(d, mask);
  const feeds: Record<string, ort.Tensor> = {};
  const vector = (a: Float32Array | Float64Array) => new ort.Tensor('float32', Float32Array.from(a), [a.length]);
  v.attn.forEach((a, i) => (feeds[IO.attnMask(i)] = vector(a)));
  v.mlp.forEach((m, i) => (feeds[IO.mlpMask(i)] = vector(m)));
  means?.forEach((m, i) => {
    const on = compensate?.[i] ?? { attn: true, mlp: true };
    feeds[IO.compensationO(i)] = vector(on.attn ? m.o : new Float32Array(m.o.length));
    feeds[IO.compensationDown(i)] = vector(on.mlp ? m.down : new Float32Array(m.down.length));
  });
  return feeds;
}

/** The masked evaluation graph's build options (with compensation inputs when there are means). */
export const maskedGraph = (means?: CompensationMeans): BuildOptions => ({
  kvCache: false,
  head: 'nll',
  masks: true,
  compensation: Boolean(means),
});

/**
 * The masked evaluation graph in one session: masks are inputs, so every candidate sub-network is measured
 * without rebuilding or reloading weights. Opened for evaluations `once` (a stage's perplexity), a model whose
 * new weights do not fit one in-memory graph (a reformed 7B) is measured layer by layer instead, one layer's
 * session at a time (compress/layerwiseNll.ts); opened for `many` (a search), it keeps one session whatever it
 * costs to open.
 */
export class MaskedEvaluator {
  private constructor(
    readonly decoder: Decoder,
    private readonly session: ort.InferenceSession | undefined,
    private ranOn: string,
    private readonly options: LayerwiseOptions,
    private readonly means?: CompensationMeans,
  ) {}

  static async open(
    d: Decoder,
    o: LayerwiseOptions,
    means?: CompensationMeans,
    evaluations: 'many' | 'once' = 'many',
  ): Promise<MaskedEvaluator> {
    if (evaluations === 'once' && !fitsInMemory(d, maskedGraph(means)))
      return new MaskedEvaluator(d, undefined, likelyProvider(o.provider), o, means);
    const s = await decoderSession(d, maskedGraph(means), o);
    return new MaskedEvaluator(d, s.session, s.provider, o, means);
  }

  /**
   * Each mask's NLL on `windows` through one evaluator opened for evaluations done once (layer by layer where the
   * model does not fit one graph), released after.
   */
  static async measure(
    d: Decoder,
    o: LayerwiseOptions,
    means: CompensationMeans | undefined,
    masks: { mask: SubnetMask; compensate?: CompensationFlags }[],
    windows: number[][],
  ): Promise<{ sums: NllSum[]; provider: string }> {
    const e = await MaskedEvaluator.open(d, o, means, 'once');
    try {
      const sums: NllSum[] = [];
      for (const m of masks) sums.push(await e.nll(m.mask, windows, m.compensate));
      return { sums, provider: e.provider };
    } finally {
      await e.release();
    }
  }

  /** The provider that runs the evaluations (layer by layer: the one the last evaluation's sessions ran on). */
  get provider(): string {
    return this.ranOn;
  }

  /** Frees the session's memory (the model's weights and activations) now rather than at garbage collection. */
  async release(): Promise<void> {
    await this.session?.release();
  }

  /** `onBatch` counts windows done where the model runs in one graph (layer by layer, `options.onLayer` counts). */
  async nll(
    mask: SubnetMask,
    windows: number[][],
    compensate?: CompensationFlags,
    onBatch?: (done: number) => void,
  ): Promise<NllSum> {
    const feeds = maskFeeds(this.decoder, mask, this.means, compensate);
    if (this.session)
      return windowsNll(this.session, windows, {
        shape: batchShape(this.decoder),
        extraFeeds: feeds,
        signal: this.options.signal,
        onBatch,
      });
    const r = await layerwiseNll(this.decoder, windows, maskedGraph(this.means), feeds, this.options);
    this.ranOn = r.provider;
    return r.nll;
  }
}
