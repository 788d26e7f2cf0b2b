// Fitness of a profile (paper-spec §4): the mean NLL of the model assembled from the database on calibration
// windows, in one session whose unit linears are graph inputs, with the subnet search's early rejection.
import type { Decoder, LayerWeights } from '../../model/decoder';
import { decoderSession } from '../../runtime/decoderSession';
import { ort, type SessionOptions } from '../../runtime/session';
import { windowsNll } from '../../runtime/perplexity';
import { linearName } from '../../model/names';
import { LINEARS } from '../sparsify/layerwiseWeights';
import { pairedWorse, rungSizes, type HalvingOptions } from '../search/fitness';
import type { LevelDatabase } from './database';
import { profileKey, type Profile, type ProfileSpace } from './space';

const unitName = (layer: number, index: number) => linearName(layer, LINEARS[index].key);

export interface ProfileRecord {
  windowNll: number[];
  /** Mean NLL per token over all windows, once all are evaluated. */
  full?: number;
}

export class ProfileFitness {
  readonly cache = new Map<string, ProfileRecord>();
  readonly rungs: number[];
  evaluations = 0;
  private readonly windowTokens: number[];

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly sp: ProfileSpace,
    private readonly shapes: number[][],
    private readonly db: LevelDatabase,
    private readonly vocab: number,
    private readonly windows: number[][],
    private readonly halving: HalvingOptions,
  ) {
    this.rungs = rungSizes(windows.length, halving);
    this.windowTokens = windows.map((w) => w.length - 1);
  }

  static async open(
    d: Decoder,
    sp: ProfileSpace,
    db: LevelDatabase,
    windows: number[][],
    halving: HalvingOptions,
    o: SessionOptions,
  ): Promise<ProfileFitness> {
    const layerWeights = d.layerWeights.map((lw, l) => {
      const fed: LayerWeights = { ...lw };
      for (const u of sp.units.filter((x) => x.layer === l)) {
        const key = LINEARS[u.index].key;
        fed[key] = {
          name: unitName(l, u.index),
          shape: lw[key].shape,
          storedBytesPerElement: 4,
          fed: true,
          read: () => lw[key].read(),
        };
      }
      return fed;
    });
    const s = await decoderSession({ ...d, layerWeights }, { kvCache: false, head: 'nll', masks: false }, o);
    const shapes = sp.units.map((u) => d.layerWeights[u.layer][LINEARS[u.index].key].shape);
    return new ProfileFitness(s.session, sp, shapes, db, d.config.vocab, windows, halving);
  }

  release(): Promise<void> {
    return this.session.release();
  }

  /** The profile on its first `upTo` windows (all by default), reusing what is cached. */
  async evaluate(p: Profile, upTo = this.windows.length): Promise<ProfileRecord> {
    const key = profileKey(p);
    const rec = this.cache.get(key) ?? { windowNll: [] };
    if (rec.windowNll.length < upTo) {
      if (rec.windowNll.length === 0) this.evaluations++;
      const feeds: Record<string, ort.Tensor> = {};
      this.sp.units.forEach(
        (u, i) => (feeds[unitName(u.layer, u.index)] = new ort.Tensor('float32', this.db.get(i, p[i]), this.shapes[i])),
      );
      const r = await windowsNll(this.session, this.windows.slice(rec.windowNll.length, upTo), {
        vocab: this.vocab,
        extraFeeds: feeds,
      });
      rec.windowNll = [...rec.windowNll, ...r.perWindow];
      if (rec.windowNll.length === this.windows.length) rec.full = sum(rec.windowNll) / sum(this.windowTokens);
    }
    this.cache.set(key, rec);
    return rec;
  }

  /** Whether `rec` (on a prefix of the windows) is clearly worse than `bar` (on all). */
  clearlyWorse(rec: ProfileRecord, bar: ProfileRecord): boolean {
    return pairedWorse(rec.windowNll, bar.windowNll, this.windowTokens, this.halving.z);
  }
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
