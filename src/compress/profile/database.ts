// EvoPress's database (paper-spec §4): every unit compressed at every level once, on the dense model's inputs, so
// that a candidate profile is assembled from stored weights instead of being compressed again. The weights live in
// files under the job's own scratch folder; the most recently used stay in memory up to a byte limit.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Decoder } from '../../model/decoder';
import type { LayerStats } from '../../runtime/activationStats';
import { CAPTURE_POINTS } from '../../graph/decoderGraph';
import { denseLayerwise, type LayerwiseOptions } from '../calibration';
import { linearName } from '../../model/names';
import { LINEARS, type LinearSite } from '../sparsify/layerwiseWeights';
import type { ProfileSpace } from './space';
import { checkFreeSpace } from '../../util/freeSpace';

/** The values of one unit compressed at one level, from that unit's dense weights and its layer's statistics. */
export type LevelTransform = (
  values: Float32Array,
  shape: number[],
  site: LinearSite,
  stats: LayerStats,
  levels: number[],
  signal?: AbortSignal,
) => Promise<Float32Array[]>;

export class LevelDatabase {
  private readonly cache = new Map<string, Float32Array>();
  private cachedBytes = 0;

  private constructor(
    private readonly dir: string,
    private readonly memoryLimit: number,
  ) {}

  /**
   * Builds the database in `dir` (created; the caller owns and removes it): one dense layer-by-layer pass, and per
   * unit all levels at once (SparseGPT's factor is shared by them).
   */
  static async build(
    d: Decoder,
    windows: number[][],
    sp: ProfileSpace,
    transform: LevelTransform,
    dir: string,
    o: LayerwiseOptions & { memoryLimit?: number; /** What to use when the disk is short. */ instead: string },
  ): Promise<LevelDatabase> {
    fs.mkdirSync(dir, { recursive: true });
    const bytes = sp.units.reduce((a, u) => {
      const shape = d.layerWeights[u.layer][LINEARS[u.index].key].shape;
      return a + shape[0] * shape[1] * 4 * sp.levels.length;
    }, 0);
    checkFreeSpace(
      dir,
      bytes,
      `the profile search's database (every linear at ${sp.levels.length} levels, fp32)`,
      `free space there, or use ${o.instead}`,
    );
    const db = new LevelDatabase(dir, o.memoryLimit ?? 2 ** 31);
    await denseLayerwise(d, windows, CAPTURE_POINTS, o, async (l, stats) => {
      for (const [unit, u] of sp.units.entries()) {
        if (u.layer !== l) continue;
        o.signal?.throwIfAborted();
        const { key, point } = LINEARS[u.index];
        const w = d.layerWeights[l][key];
        const versions = await transform(
          w.read(),
          w.shape,
          { layer: l, index: u.index, point, name: linearName(l, key) },
          stats,
          sp.levels,
          o.signal,
        );
        versions.forEach((v, level) => db.put(unit, level, v));
      }
    });
    return db;
  }

  private file(unit: number, level: number): string {
    return path.join(this.dir, `${unit}.${level}.f32`);
  }

  private put(unit: number, level: number, values: Float32Array): void {
    fs.writeFileSync(this.file(unit, level), values);
    this.remember(`${unit}.${level}`, values);
  }

  private remember(key: string, values: Float32Array): void {
    if (values.byteLength > this.memoryLimit) return;
    this.cache.set(key, values);
    this.cachedBytes += values.byteLength;
    for (const [k, v] of this.cache) {
      if (this.cachedBytes <= this.memoryLimit) break;
      this.cache.delete(k);
      this.cachedBytes -= v.byteLength;
    }
  }

  get(unit: number, level: number): Float32Array {
    const key = `${unit}.${level}`;
    const held = this.cache.get(key);
    if (held) {
      this.cache.delete(key);
      this.cache.set(key, held);
      return held;
    }
    const bytes = fs.readFileSync(this.file(unit, level));
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    this.remember(key, values);
    return values;
  }
}
