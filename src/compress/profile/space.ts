// The space a per-linear profile is searched in (paper-spec §4, after EvoPress): every linear of every layer is a
// unit with a level from a discrete set (a sparsity, or a bit width), and a mutation moves one unit a step up and
// another of the same size a step down, so the total (average sparsity, or file size) never changes.
import { Rng } from '../../util/random';

export interface ProfileUnit {
  layer: number;
  /** Index into LINEARS. */
  index: number;
  params: number;
}

export interface ProfileSpace {
  units: ProfileUnit[];
  /** The levels, ascending (sparsities, or bit widths). */
  levels: number[];
  /** Units of equal size, between which a level switch keeps the total: lists of indices into `units`. */
  groups: number[][];
}

/** A candidate: per unit, an index into `levels`. */
export type Profile = number[];

/**
 * `cost(i)` is what one level step of unit i adds to the total: its parameters for sparsity (the default), the extra
 * bytes of a higher bit width for mixed precision; switches stay inside groups of equal cost.
 */
export function profileSpace(
  units: ProfileUnit[],
  levels: number[],
  cost = (i: number) => units[i].params,
): ProfileSpace {
  const bySize = new Map<number, number[]>();
  units.forEach((_, i) => bySize.set(cost(i), [...(bySize.get(cost(i)) ?? []), i]));
  return { units, levels, groups: [...bySize.values()].filter((g) => g.length > 1) };
}

/**
 * Sparsity levels around `target` in steps of `step` within [0, `max`]: the target itself is a level, so the
 * uniform profile is in the space and every level switch keeps the average exactly at the target.
 */
export function sparsityLevels(target: number, step: number, span: number, max: number): number[] {
  const levels: number[] = [];
  for (let j = -span; j <= span; j++) {
    // The target itself exactly (the uniform start must be a level); the others rounded to the step's grid.
    const v = j === 0 ? target : Math.round((target + j * step) * 1e6) / 1e6;
    if (v >= 0 && v <= Math.max(max, target)) levels.push(v);
  }
  return levels;
}

/** `switches` level switches (1 to 3), each between two units of one group, both staying inside the levels. */
export function mutateProfile(rng: Rng, sp: ProfileSpace, p: Profile): Profile {
  const child = [...p];
  const switches = 1 + rng.int(3);
  let done = 0;
  for (let attempt = 0; attempt < 100 && done < switches; attempt++) {
    const group = sp.groups[rng.int(sp.groups.length)];
    const up = group[rng.int(group.length)];
    const down = group[rng.int(group.length)];
    if (up === down || child[up] + 1 >= sp.levels.length || child[down] - 1 < 0) continue;
    child[up]++;
    child[down]--;
    done++;
  }
  return child;
}

export const profileKey = (p: Profile) => p.join(',');
