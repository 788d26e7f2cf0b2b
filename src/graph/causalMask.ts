import type { GraphBuilder } from './graph';
import { DataType } from '../onnx/proto';

/** Added to masked scores; the most negative float32, as Hugging Face does, so softmax gives exact zeros. */
const MASKED = -3.4028234663852886e38;

/**
 * Additive attention bias `[B|1, 1, 1, S, T]` (5-D to broadcast over grouped query heads) for a sequence `x` [B, S, ...]: a query at absolute
 * position P + s sees keys 0..P + s (the last `slidingWindow` of them, when set) that `attention_mask` marks as real tokens. Without `attentionMask` (the
 * evaluation graph: no cache, no padding) it is purely causal.
 */
export function attentionBias(g: GraphBuilder, x: string, attentionMask?: string, slidingWindow?: number): string {
  const seqLen = g.op('Gather', [g.op('Shape', [x], {}, 'seq_shape'), g.ints([1], true)], { axis: 0 }, 'seq_len');
  const zero = g.ints([0], true);
  const one = g.ints([1], true);
  let total = seqLen;
  let start = zero;
  if (attentionMask) {
    total = g.op('Gather', [g.op('Shape', [attentionMask], {}, 'mask_shape'), one], { axis: 0 }, 'total_len');
    start = g.op('Sub', [total, seqLen], {}, 'past_len');
  }
  const keyPos = g.op('Unsqueeze', [g.op('Range', [zero, total, one], {}, 'key_pos'), g.ints([0])], {}, 'key_row');
  const queryPos = g.op(
    'Unsqueeze',
    [g.op('Range', [start, total, one], {}, 'query_pos'), g.ints([1])],
    {},
    'query_col',
  );
  let allowed = g.op('LessOrEqual', [keyPos, queryPos], {}, 'causal'); // [S, T]
  if (slidingWindow) {
    // Mistral's window, as transformers masks it: key k is seen from query q when k > q − window.
    const oldest = g.op('Sub', [queryPos, g.ints([slidingWindow], true)], {}, 'window_start');
    allowed = g.op('And', [allowed, g.op('Greater', [keyPos, oldest], {}, 'in_window')], {}, 'causal_window');
  }
  let unsqueeze = [0, 1, 2];
  if (attentionMask) {
    const pad = g.op(
      'Cast',
      [g.op('Unsqueeze', [attentionMask, g.ints([1, 2])], {}, 'pad4')],
      { to: DataType.BOOL },
      'pad_bool',
    );
    allowed = g.op('And', [allowed, pad], {}, 'allowed'); // [B, 1, S, T]
    unsqueeze = [1];
  }
  const bias = g.op('Where', [allowed, g.floats([0], true), g.floats([MASKED], true)], {}, 'attn_bias4');
  return g.op('Unsqueeze', [bias, g.ints(unsqueeze)], {}, 'attn_bias');
}
