// The search's initial population (paper-spec §1.1: initialised from importance scores), built from the dense
// calibration's per-method scores.
import type { Decoder } from '../../model/decoder';
import type { LayerScores, Method } from '../importance/scores';
import { globalUnits, uniformUnits } from '../importance/select';
import { compensationParams } from '../importance/compensation';
import { candidateFromKeep, type Candidate, type SearchSpace } from './space';

/** The importance methods whose selections seed the search with `--init all`; the first is the paper's. */
export const INIT_METHODS = ['obs', 'wanda-sp', 'magnitude', 'flap'] as const;

/**
 * Each importance selection joins without and (in a space with compensation) with compensation biases, whose
 * parameters it leaves room for, and (with depth) with each number of last layers dropped, the rest selected to
 * the same budget. The first seed is the paper's: OBS, all layers, no biases.
 */
export function initialPopulation(
  d: Decoder,
  sp: SearchSpace,
  scores: Map<Method, LayerScores[]>,
  methods: readonly Method[],
  ratio: number,
): Candidate[] {
  const seeds: Candidate[] = [];
  for (const method of methods) {
    const methodScores = scores.get(method)!;
    let allLayers: Candidate | undefined;
    for (let drop = 0; drop <= sp.maxDrop; drop++) {
      const n = d.layers.length - drop;
      const kept: Decoder = { ...d, layers: d.layers.slice(0, n), layerWeights: d.layerWeights.slice(0, n) };
      for (const bias of sp.compensation ? [false, true] : [undefined]) {
        const target = ratio * sp.totalParams - (bias ? compensationParams(kept) : 0);
        const select = method === 'flap' ? globalUnits : uniformUnits;
        const keep = select(kept, methodScores.slice(0, n), sp.granularity, target);
        const c = candidateFromKeep(keep.attn, keep.mlp, bias);
        allLayers ??= c;
        // A dropped layer's genes are those of the selection that keeps it, should a mutation bring it back.
        seeds.push(sp.maxDrop ? { layers: [...c.layers, ...allLayers.layers.slice(n)], drop } : c);
      }
    }
  }
  return seeds;
}
