// The profile search's database and fitness at the model's precision (compress/profile): a profile's fitness, fed
// from the database's files (fp16 fed as fp16, bf16 widened, pruned levels packed), equals the NLL of the same
// model assembled with those linears as ordinary weights, for fp32, fp16 and bf16 copies of stories260K.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDecoder } from '../../src/model/recognise';
import { newWeight, type Decoder, type FloatType } from '../../src/model/decoder';
import { LevelDatabase, type LevelTransform } from '../../src/compress/profile/database';
import { ProfileFitness } from '../../src/compress/profile/evaluator';
import { profileSpace } from '../../src/compress/profile/space';
import { unitsOf } from '../../src/compress/profile/profileStage';
import { LINEARS } from '../../src/compress/sparsify/layerwiseWeights';
import { pruneByScore } from '../../src/compress/sparsify/wanda';
import { DEFAULT_HALVING } from '../../src/compress/search/fitness';
import { decoderSession } from '../../src/runtime/decoderSession';
import { windowsNll } from '../../src/runtime/perplexity';
import { copyAs, relDiff, stories260K, tempDir, texts, tokenWindows } from '../fixtures';

/** Magnitude pruning at each level: a cheap transform whose levels differ, which is all the database needs. */
const magnitude: LevelTransform = async (values, [K, N], _site, _stats, levels) =>
  levels.map((s) => (s === 0 ? values : pruneByScore(values, K, N, { kind: 'unstructured', sparsity: s })));

for (const type of ['float32', 'float16', 'bfloat16'] as FloatType[])
  test(`${type}: a profile's fitness from the database's files equals the assembled model's NLL`, async () => {
    const d = loadDecoder(copyAs(stories260K.onnx, type));
    assert.equal(d.weightType ?? 'float32', type);
    const windows = tokenWindows(stories260K.onnx, 512, texts.tinyStoriesValid, 128, 4);
    const units = unitsOf(d);
    const sp = profileSpace(units, [0, 0.5, 0.7]);
    const dir = path.join(tempDir(), 'db');
    const o = { provider: 'cpu' as const };
    // No memory: every level is read back from its file, packed or not.
    const db = await LevelDatabase.build(d, windows, sp, magnitude, dir, {
      ...o,
      memoryLimit: 0,
      instead: '',
      density: (l) => 1 - l,
    });
    const files = fs.readdirSync(dir).map((f) => fs.statSync(path.join(dir, f)).size);
    const bytesPerValue = type === 'float32' ? 4 : 2;
    const dense = units.reduce((a, u) => a + u.params, 0) * bytesPerValue;
    // Level 0 dense, 0.5 and 0.7 packed: a bitmask and the non-zeros only.
    const expected = dense * (1 + 0.5 + 0.3) + (2 * dense) / bytesPerValue / 8;
    assert.ok(
      relDiff(
        files.reduce((a, b) => a + b, 0),
        expected,
      ) < 0.01,
      `${files.length} files`,
    );

    const profile = units.map((_, i) => i % 3);
    const fitness = await ProfileFitness.open(d, sp, db, windows, DEFAULT_HALVING, o);
    const got = (await fitness.evaluate(profile)).full!;
    await fitness.release();

    const assembled: Decoder = {
      ...d,
      layerWeights: d.layerWeights.map((lw) => ({ ...lw })),
    };
    for (const [i, u] of units.entries()) {
      const key = LINEARS[u.index].key;
      const w = d.layerWeights[u.layer][key];
      const [pruned] = await magnitude(w.read(), w.shape, undefined!, undefined!, [sp.levels[profile[i]]]);
      assembled.layerWeights[u.layer][key] = newWeight(w.name, w.shape, pruned, type);
    }
    const s = await decoderSession(assembled, { kvCache: false, head: 'nll', masks: false }, o);
    const r = await windowsNll(s.session, windows);
    await s.session.release();
    assert.ok(relDiff(got, r.nll / r.tokens) < 1e-5, `${got} vs ${r.nll / r.tokens}`);
  });
