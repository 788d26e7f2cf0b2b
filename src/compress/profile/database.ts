// EvoPress's database (paper-spec §4): every unit compressed at every level once, on the dense model's inputs, so
// that a candidate profile is assembled from stored weights instead of being compressed again. The weights live in
// files under the job's own scratch folder (levelCodec.ts: the model's float type, pruned levels packed); the most
// recently used stay in memory, as fed, up to a byte limit sized to hold a whole profile where memory allows.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { floatBytes, type Decoder } from '../../model/decoder';
import type { LayerStats } from '../../runtime/activationStats';
import { availableMemory } from '../../util/freeMemory';
import { CAPTURE_POINTS } from '../../graph/decoderGraph';
import { denseLayerwise, type LayerwiseOptions } from '../calibration';
import { linearName } from '../../model/names';
import { LINEARS, type LinearSite } from '../sparsify/layerwiseWeights';
import type { ProfileSpace } from './space';
import { checkFreeSpace } from '../../util/freeSpace';
import { decodeLevel, encodeLevel, levelBytes, levelFormat, type FeedValues, type LevelFormat } from './levelCodec';

/** The values of one unit compressed at one level, from that unit's dense weights and its layer's statistics. */
export type LevelTransform = (
  values: Float32Array,
  shape: number[],
  site: LinearSite,
  stats: LayerStats,
  levels: number[],
  signal?: AbortSignal,
) => Promise<Float32Array[]>;

/**
 * The cache's default limit: one profile's units as fed, plus a quarter for the offspring's switched units, so that
 * assembling candidate after candidate reads only what changed (a candidate's units always take one profile's
 * bytes); least-recently-used eviction in less would read the whole profile from disk for every candidate. At most
 * half of the memory free before the build (the fitness session, opened after it, needs its share).
 */
function defaultMemoryLimit(profileBytes: number): number {
  return Math.min(1.25 * profileBytes, availableMemory() / 2);
}

export class LevelDatabase {
  private readonly cache = new Map<string, FeedValues>();
  private cachedBytes = 0;
  private written = 0;

  private constructor(
    private readonly dir: string,
    readonly format: LevelFormat,
    private readonly sizes: number[],
    private readonly memoryLimit: number,
  ) {}

  /**
   * Builds the database in `dir` (created; the caller owns and removes it): one dense layer-by-layer pass, and per
   * unit all levels at once (SparseGPT's factor is shared by them). `density(level)` is the fraction of a level's
   * values that are not zero (1 for bit widths), for the disk check.
   */
  static async build(
    d: Decoder,
    windows: number[][],
    sp: ProfileSpace,
    transform: LevelTransform,
    dir: string,
    o: LayerwiseOptions & {
      memoryLimit?: number;
      /** What to use when the disk is short. */
      instead: string;
      density: (level: number) => number;
    },
  ): Promise<LevelDatabase> {
    fs.mkdirSync(dir, { recursive: true });
    const format = levelFormat(d.weightType);
    const sizes = sp.units.map((u) => {
      const [K, N] = d.layerWeights[u.layer][LINEARS[u.index].key].shape;
      return K * N;
    });
    const bytes = sizes.reduce(
      (a, n) => a + sp.levels.reduce((b, l) => b + levelBytes(n, o.density(l), format.stored), 0),
      0,
    );
    checkFreeSpace(
      dir,
      bytes,
      `the profile search's database (every linear at ${sp.levels.length} levels)`,
      `free space there, or use ${o.instead}`,
    );
    const profileBytes = sizes.reduce((a, n) => a + n * floatBytes(format.fed), 0);
    const db = new LevelDatabase(dir, format, sizes, o.memoryLimit ?? defaultMemoryLimit(profileBytes));
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
    return path.join(this.dir, `${unit}.${level}.level`);
  }

  /** Written only: cached during the build, the last layers' levels would push out the start profile's. */
  private put(unit: number, level: number, values: Float32Array): void {
    const bytes = encodeLevel(values, this.format.stored);
    fs.writeFileSync(this.file(unit, level), bytes);
    this.written += bytes.byteLength;
  }

  private remember(key: string, values: FeedValues): void {
    if (values.byteLength > this.memoryLimit) return;
    this.cache.set(key, values);
    this.cachedBytes += values.byteLength;
    for (const [k, v] of this.cache) {
      if (this.cachedBytes <= this.memoryLimit) break;
      this.cache.delete(k);
      this.cachedBytes -= v.byteLength;
    }
  }

  /** Bytes of its files on disk. */
  get bytes(): number {
    return this.written;
  }

  /** Unit `unit` at level index `level`, as the fitness session is fed it (`format.fed`). */
  get(unit: number, level: number): FeedValues {
    const key = `${unit}.${level}`;
    const held = this.cache.get(key);
    if (held) {
      this.cache.delete(key);
      this.cache.set(key, held);
      return held;
    }
    const values = decodeLevel(fs.readFileSync(this.file(unit, level)), this.sizes[unit], this.format);
    this.remember(key, values);
    return values;
  }
}
