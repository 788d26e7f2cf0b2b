import type { Decoder } from '../model/decoder';
import { IO, type BuildOptions } from '../graph/decoderGraph';
import { decoderSession, fitsInMemory } from '../runtime/decoderSession';
import { likelyProvider, ort, type SessionOptions } from '../runtime/session';
import { windowsNll, type NllSum } from '../runtime/perplexity';
import { maskVectors, type SubnetMask } from './subnet';
import type { CompensationFlags, CompensationMeans } from './importance/compensation';
import { layerwiseNll } from './layerwiseNll';

/**
 * The masked evaluation graph in one session: masks are inputs, so every candidate sub-network is measured
 * without rebuilding or reloading weights. A model whose new weights do not fit one in-memory graph (a reformed
 * 7B) is measured layer by layer instead, one layer's session at a time (compress/layerwiseNll.ts).
 */
export class MaskedEvaluator {
  private constructor(
    readonly decoder: Decoder,
    private readonly session: ort.InferenceSession | undefined,
    /** The provider of the session; layer by layer, the one the choice most likely runs on. */
    readonly provider: string,
    private readonly options: SessionOptions,
    private readonly means?: CompensationMeans,
  ) {}

  /**
   * With `means` (the dense model's mean o_proj / down_proj inputs) a mask can be measured with FLAP's bias
   * compensation, per module as `compensate` says (all modules when it is not given). `layerwise` forces the
   * layer-by-layer evaluation (otherwise chosen when the model does not fit one in-memory graph).
   */
  static async open(
    d: Decoder,
    o: SessionOptions,
    means?: CompensationMeans,
    layerwise = !fitsInMemory(d, MaskedEvaluator.graph(means)),
  ): Promise<MaskedEvaluator> {
    if (layerwise) return new MaskedEvaluator(d, undefined, likelyProvider(o.provider), o, means);
    const s = await decoderSession(d, MaskedEvaluator.graph(means), o);
    return new MaskedEvaluator(d, s.session, s.provider, o, means);
  }

  private static graph(means?: CompensationMeans): BuildOptions {
    return { kvCache: false, head: 'nll', masks: true, compensation: Boolean(means) };
  }

  private feeds(mask: SubnetMask, compensate?: CompensationFlags): Record<string, ort.Tensor> {
    const v = maskVectors(this.decoder, mask);
    const feeds: Record<string, ort.Tensor> = {};
    const vector = (a: Float32Array | Float64Array) => new ort.Tensor('float32', Float32Array.from(a), [a.length]);
    v.attn.forEach((a, i) => (feeds[IO.attnMask(i)] = vector(a)));
    v.mlp.forEach((m, i) => (feeds[IO.mlpMask(i)] = vector(m)));
    this.means?.forEach((m, i) => {
      const on = compensate?.[i] ?? { attn: true, mlp: true };
      feeds[IO.compensationO(i)] = vector(on.attn ? m.o : new Float32Array(m.o.length));
      feeds[IO.compensationDown(i)] = vector(on.mlp ? m.down : new Float32Array(m.down.length));
    });
    return feeds;
  }

  /** Frees the session's memory (the model's weights and activations) now rather than at garbage collection. */
  async release(): Promise<void> {
    await this.session?.release();
  }

  async nll(mask: SubnetMask, windows: number[][], compensate?: CompensationFlags): Promise<NllSum> {
    const feeds = this.feeds(mask, compensate);
    if (!this.session)
      return (await layerwiseNll(this.decoder, windows, MaskedEvaluator.graph(this.means), feeds, this.options)).nll;
    return windowsNll(this.session, windows, { vocab: this.decoder.config.vocab, extraFeeds: feeds });
  }
}
