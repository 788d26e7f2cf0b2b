import type { GraphBuilder } from './graph';
import type { Linear } from './linear';

/**
 * FLAP's bias compensation inside the masked graph (paper-spec §3): what the masked-out input channels of a
 * projection contribute on average, `((1 − mask) ⊙ x̄) · W` → `[1, out]`, added to its output. With the mask an
 * input, every candidate is measured with its own compensation without rebuilding the graph.
 */
export function maskCompensation(
  g: GraphBuilder,
  project: Linear,
  mask: string,
  inputMean: string,
  name: string,
): string {
  const removed = g.op('Sub', [g.floats([1], true), mask], {}, `${name}_removed`);
  const meanRemoved = g.op('Mul', [removed, inputMean], {}, `${name}_mean_removed`);
  return project(g.op('Unsqueeze', [meanRemoved, g.ints([0])], {}, `${name}_row`), `${name}_bias`);
}
