// A weight stage with its profile: uniform levels as asked, or OWL's / the searched per-linear levels computed
// first and then applied by the same layer-by-layer pass.
import type { Decoder } from '../../model/decoder';
import type { LayerwiseOptions } from '../calibration';
import { sparsifyDecoder, type WeightStage } from '../sparsify/sparsifyDecoder';
import { bitsProfile, sparsityProfile, type ProfileOptions, type ProfileReport } from './profileStage';

export async function applyWeightStage(
  d: Decoder,
  windows: number[][],
  stage: WeightStage,
  p: Omit<ProfileOptions, 'kind'>,
  o: LayerwiseOptions,
): Promise<{ decoder: Decoder; profile?: ProfileReport }> {
  const kind = stage.profile ?? 'uniform';
  if (kind === 'uniform') return { decoder: await sparsifyDecoder(d, windows, stage, o) };
  // With --sparsity the profile is of sparsity (any --bits stay uniform); with --bits alone, of bit widths.
  const profile = stage.sparsity
    ? await sparsityProfile(d, windows, stage, { ...p, kind }, o)
    : await bitsProfile(d, windows, stage, { ...p, kind }, o);
  const profiled: WeightStage =
    profile.of === 'bits'
      ? { ...stage, quant: { ...stage.quant!, profile: profile.levels } }
      : { ...stage, sparsity: { ...stage.sparsity!, profile: profile.levels } };
  return { decoder: await sparsifyDecoder(d, windows, profiled, o), profile };
}
