import { ort } from './session';
import type { LayerShape } from '../model/decoder';
import { IO } from '../graph/decoderGraph';
import { emptyPast, floatValues, int64, presentToPast } from './kvCache';

export interface GenerateOptions {
  maxTokens: number; // total length including the prompt
  /** Token ids that end generation (not included in the result). */
  stopIds: number[];
}

function argmaxLast(logits: ort.Tensor): number {
  const [, seq, vocab] = logits.dims as number[];
  const data = floatValues(logits);
  const off = (seq - 1) * vocab;
  let best = 0;
  for (let v = 1; v < vocab; v++) if (data[off + v] > data[off + best]) best = v;
  return best;
}

/** Greedy decoding with the KV cache: one prefill of the prompt, then one token per step. */
export async function generateGreedy(
  session: ort.InferenceSession,
  layers: LayerShape[],
  prompt: number[],
  o: GenerateOptions,
): Promise<number[]> {
  const tokens = [...prompt];
  let past = emptyPast(session, layers, 1);
  let step = prompt;
  while (tokens.length < o.maxTokens) {
    const start = tokens.length - step.length;
    const out = await session.run({
      [IO.inputIds]: int64(step, [1, step.length]),
      [IO.attentionMask]: int64(new Array(tokens.length).fill(1), [1, tokens.length]),
      [IO.positionIds]: int64(
        step.map((_, i) => start + i),
        [1, step.length],
      ),
      ...past,
    });
    const next = argmaxLast(out[IO.logits] as ort.Tensor);
    if (o.stopIds.includes(next)) break;
    tokens.push(next);
    past = presentToPast(out, layers.length);
    step = [next];
  }
  return tokens;
}
