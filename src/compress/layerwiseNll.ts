// The negative log-likelihood of windows through a model one decoder layer at a time (design.md "Scale"), for
// models whose new weights are too many for one in-memory graph (a reformed or sparsified 7B): each layer's
// session holds that layer's weights only, so nothing is copied to a temporary file and memory stays at one layer.
import type { Decoder } from '../model/decoder';
import { decoderSession } from '../runtime/decoderSession';
import { calibrationInputs, runPass, type LayerInputs } from '../runtime/activationStats';
import { batchFor, batchShape, type NllSum } from '../runtime/perplexity';
import { likelyProvider, type ort } from '../runtime/session';
import type { LayerwiseOptions } from './calibration';

/**
 * `feeds` may name every layer's inputs (masks, compensation): each layer's graph is given those it declares.
 * `o.onLayer` counts the layers and the head done.
 */
export async function layerwiseNll(
  d: Decoder,
  windows: number[][],
  graph: { masks: boolean; compensation?: boolean },
  feeds: Record<string, ort.Tensor>,
  o: LayerwiseOptions,
): Promise<{ nll: NllSum; provider: string }> {
  if (windows.length === 0)
    return { nll: { nll: 0, tokens: 0, seconds: 0, perWindow: [] }, provider: likelyProvider(o.provider) };
  const t0 = performance.now();
  const layers = d.layers.length;
  let input: LayerInputs = calibrationInputs(windows, batchFor(windows[0].length, batchShape(d)));
  let provider = '';
  try {
    // Layer `layers` is the head: final norm, lm_head and the loss.
    for (let l = 0; l <= layers; l++) {
      const s = await decoderSession(
        d,
        { kvCache: false, head: 'nll', ...graph, layerRange: { from: l, to: l } },
        { ...o, noArena: true },
      );
      provider = s.provider;
      try {
        const own = Object.fromEntries(Object.entries(feeds).filter(([k]) => s.session.inputNames.includes(k)));
        const pass = await runPass(s.session, input, l, {
          extraFeeds: own,
          keepOutput: l < layers,
          signal: o.signal,
          hiddenMemoryLimit: o.hiddenMemoryLimit,
        });
        if (pass.perWindowNll) {
          o.onLayer?.(layers + 1, layers + 1);
          const nll = pass.perWindowNll.reduce((a, x) => a + x, 0);
          const tokens = windows.reduce((a, w) => a + w.length - 1, 0);
          return {
            nll: { nll, tokens, seconds: (performance.now() - t0) / 1000, perWindow: pass.perWindowNll },
            provider,
          };
        }
        input.hidden?.release();
        input = pass.next!;
        o.onLayer?.(l + 1, layers + 1);
      } finally {
        await s.session.release();
      }
    }
  } finally {
    input.hidden?.release();
  }
  throw new Error('internal error: the head graph returned no nll');
}
