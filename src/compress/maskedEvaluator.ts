import type { Decoder } from '../model/decoder';
import { IO } from '../graph/decoderGraph';
import { decoderSession } from '../runtime/decoderSession';
import { ort, type SessionOptions } from '../runtime/session';
import { windowsNll, type NllSum } from '../runtime/perplexity';
import { maskVectors, type SubnetMask } from './subnet';
import type { CompensationFlags, CompensationMeans } from './importance/compensation';

/**
 * The masked evaluation graph in one session: masks are inputs, so every candidate sub-network is measured
 * without rebuilding or reloading weights.
 */
export class MaskedEvaluator {
  private constructor(
    readonly decoder: Decoder,
    private readonly session: ort.InferenceSession,
    readonly provider: string,
    private readonly means?: CompensationMeans,
  ) {}

  /**
   * With `means` (the dense model's mean o_proj / down_proj inputs) a mask can be measured with FLAP's bias
   * compensation, per module as `compensate` says (all modules when it is not given).
   */
  static async open(d: Decoder, o: SessionOptions, means?: CompensationMeans): Promise<MaskedEvaluator> {
    const s = await decoderSession(d, { kvCache: false, head: 'nll', masks: true, compensation: Boolean(means) }, o);
    return new MaskedEvaluator(d, s.session, s.provider, means);
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
  release(): Promise<void> {
    return this.session.release();
  }

  nll(mask: SubnetMask, windows: number[][], compensate?: CompensationFlags): Promise<NllSum> {
    return windowsNll(this.session, windows, {
      vocab: this.decoder.config.vocab,
      extraFeeds: this.feeds(mask, compensate),
    });
  }
}
