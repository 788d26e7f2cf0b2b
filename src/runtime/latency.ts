import type { LayerShape } from '../model/decoder';
import { IO } from '../graph/decoderGraph';
import { createSession, type SessionOptions } from './session';
import { emptyPast, int64, presentToPast } from './kvCache';
import { median } from '../util/median';

export interface Latency {
  prefillTokens: number;
  prefillMs: number;
  decodeTokens: number;
  decodeMsPerToken: number;
  decodeTokensPerSecond: number;
}

/**
 * Prefill of `prompt` tokens, then `decode` single-token steps through the KV cache (batch 1), for several models
 * with their runs interleaved so that machine noise hits them alike. Medians over `reps`.
 */
export async function measureLatency(
  models: { file: string; layers: LayerShape[] }[],
  o: SessionOptions & { prompt: number; decode: number; reps: number; vocab: number },
): Promise<Latency[]> {
  const sessions = await Promise.all(models.map((m) => createSession(m.file, o)));
  const prefill: number[][] = models.map(() => []);
  const decode: number[][] = models.map(() => []);
  const token = (i: number) => 3 + ((i * 31) % (o.vocab - 3));
  for (let rep = 0; rep <= o.reps; rep++) {
    for (const [k, s] of sessions.entries()) {
      const layers = models[k].layers;
      let t0 = performance.now();
      let out = await s.session.run({
        [IO.inputIds]: int64(
          Array.from({ length: o.prompt }, (_, i) => token(i)),
          [1, o.prompt],
        ),
        [IO.attentionMask]: int64(new Array(o.prompt).fill(1), [1, o.prompt]),
        [IO.positionIds]: int64(
          Array.from({ length: o.prompt }, (_, i) => i),
          [1, o.prompt],
        ),
        ...emptyPast(s.session, layers, 1),
      });
      const p = performance.now() - t0;
      t0 = performance.now();
      for (let step = 0; step < o.decode; step++) {
        const pos = o.prompt + step;
        out = await s.session.run({
          [IO.inputIds]: int64([token(pos)], [1, 1]),
          [IO.attentionMask]: int64(new Array(pos + 1).fill(1), [1, pos + 1]),
          [IO.positionIds]: int64([pos], [1, 1]),
          ...presentToPast(out, layers.length),
        });
      }
      // The first repetition warms the session up and is not counted.
      if (rep > 0) {
        prefill[k].push(p);
        decode[k].push((performance.now() - t0) / o.decode);
      }
    }
  }
  return models.map((_, k) => ({
    prefillTokens: o.prompt,
    prefillMs: median(prefill[k]),
    decodeTokens: o.decode,
    decodeMsPerToken: median(decode[k]),
    decodeTokensPerSecond: 1000 / median(decode[k]),
  }));
}
