// Fitness of a profile (paper-spec §4): the mean NLL of the model assembled from the database on calibration
// windows, in one session whose unit linears are graph inputs, with the subnet search's early rejection.
import { floatBytes, type Decoder, type LayerWeights } from '../../model/decoder';
import { decoderSession } from '../../runtime/decoderSession';
import { ort, type SessionOptions } from '../../runtime/session';
import { batchShape, windowsNll, type BatchShape, type NllSum } from '../../runtime/perplexity';
import { linearName } from '../../model/names';
import { LINEARS } from '../sparsify/layerwiseWeights';
import { WindowedFitness, type HalvingOptions } from '../search/fitness';
import type { LevelDatabase } from './database';
import { profileKey, type Profile, type ProfileSpace } from './space';

const unitName = (layer: number, index: number) => linearName(layer, LINEARS[index].key);

/** A profile's fitness: the database's weights at the profile's levels fed to a session whose linears are inputs. */
export class ProfileFitness extends WindowedFitness<Profile> {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly sp: ProfileSpace,
    private readonly shapes: number[][],
    private readonly db: LevelDatabase,
    private readonly shape: BatchShape,
    windows: number[][],
    halving: HalvingOptions,
  ) {
    super(windows, halving);
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
          storedBytesPerElement: floatBytes(db.format.fed),
          fed: db.format.fed,
          read: () => lw[key].read(),
        };
      }
      return fed;
    });
    const s = await decoderSession({ ...d, layerWeights }, { kvCache: false, head: 'nll', masks: false }, o);
    const shapes = sp.units.map((u) => d.layerWeights[u.layer][LINEARS[u.index].key].shape);
    return new ProfileFitness(s.session, sp, shapes, db, batchShape(d), windows, halving);
  }

  release(): Promise<void> {
    return this.session.release();
  }

  protected key(p: Profile): string {
    return profileKey(p);
  }

  protected measure(p: Profile, windows: number[][]): Promise<NllSum> {
    const feeds: Record<string, ort.Tensor> = {};
    this.sp.units.forEach(
      (u, i) =>
        (feeds[unitName(u.layer, u.index)] = new ort.Tensor(this.db.format.fed, this.db.get(i, p[i]), this.shapes[i])),
    );
    return windowsNll(this.session, windows, { shape: this.shape, extraFeeds: feeds });
  }
}
