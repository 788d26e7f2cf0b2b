import type { Decoder } from '../model/decoder';
import { decoderSession } from '../runtime/decoderSession';
import { captureStats, type LayerStats } from '../runtime/activationStats';
import type { SessionOptions } from '../runtime/session';

/** Activation statistics of every layer of the dense model on the calibration windows. */
export async function denseLayerStats(d: Decoder, windows: number[][], o: SessionOptions): Promise<Map<number, LayerStats>> {
  const layers = d.layers.map((_, i) => i);
  const s = await decoderSession(d, { kvCache: false, head: 'nll', masks: false, capture: layers }, o);
  return captureStats(s.session, windows, layers);
}
