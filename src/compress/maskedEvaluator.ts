import type { Decoder } from '../model/decoder';
import { IO } from '../build/decoderGraph';
import { decoderSession } from '../runtime/decoderSession';
import { ort, type SessionOptions } from '../runtime/session';
import { windowsNll, type NllSum } from '../runtime/perplexity';
import { maskVectors, type SubnetMask } from './subnet';

/**
 * The masked evaluation graph in one session: masks are inputs, so every candidate sub-network is measured
 * without rebuilding or reloading weights.
 */
export class MaskedEvaluator {
  private constructor(readonly decoder: Decoder, private readonly session: ort.InferenceSession, readonly provider: string) {}

  static async open(d: Decoder, o: SessionOptions): Promise<MaskedEvaluator> {
    const s = await decoderSession(d, { kvCache: false, head: 'nll', masks: true }, o);
    return new MaskedEvaluator(d, s.session, s.provider);
  }

  feeds(mask: SubnetMask): Record<string, ort.Tensor> {
    const v = maskVectors(this.decoder, mask);
    const feeds: Record<string, ort.Tensor> = {};
    v.attn.forEach((a, i) => (feeds[IO.attnMask(i)] = new ort.Tensor('float32', a, [a.length])));
    v.mlp.forEach((m, i) => (feeds[IO.mlpMask(i)] = new ort.Tensor('float32', m, [m.length])));
    return feeds;
  }

  nll(mask: SubnetMask, windows: number[][], batch?: number): Promise<NllSum> {
    return windowsNll(this.session, windows, { extraFeeds: this.feeds(mask), batch });
  }
}
