// Reader for llama2.c "legacy" (version 0) checkpoints; format in shared/fixtures/README.md §1.
// Only the 28-byte header is read up front: every weight reads its own byte range when asked, so a checkpoint
// over 2 GiB opens and a model is never held in memory whole.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { readRange } from '../util/readRange';
import { transpose2d } from './transpose';
import type { Decoder, DecoderConfig, LayerWeights, Weight } from './decoder';
import { denseLayerShape } from './decoder';
import { EMBED_NAME, FINAL_NORM_NAME, linearName, LM_HEAD_NAME, normName } from './names';

export const LLAMA2C_ADAPTER = 'llama2.c checkpoint (legacy v0)';

const HEADER_BYTES = 28;

/**
 * llama2.c rotates interleaved pairs (2i, 2i+1) inside a head; our graphs rotate halves (i, i + d/2), like
 * Hugging Face. Reordering the q/k output rows inside each head makes the two the same network.
 */
function interleavedToHalves(w: Float32Array, heads: number, headDim: number, inDim: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (const [src, dst] of [
        [2 * i, i],
        [2 * i + 1, i + half],
      ]) {
        const from = (h * headDim + src) * inDim;
        out.set(w.subarray(from, from + inDim), (h * headDim + dst) * inDim);
      }
    }
  }
  return out;
}

/** Fills `into` from the checkpoint at byte `position`: a checkpoint that ends first changed or was truncated. */
const readCheckpoint = (file: string, into: Uint8Array, position: number) =>
  readRange(
    file,
    into,
    position,
    (at) =>
      new UserError(
        `${path.basename(file)}: ended at byte ${at} while reading a weight (the file changed or was truncated)`,
      ),
  );

/** `count` float32 values (little-endian, like llama2.c's own reader) starting at float index `offset` after the header. */
function readFloats(file: string, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  readCheckpoint(file, new Uint8Array(out.buffer), HEADER_BYTES + 4 * offset);
  return out;
}

export function readLlama2c(file: string): Decoder {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new UserError(`${file}: file not found`);
  const size = fs.statSync(abs).size;
  const name = path.basename(file);
  if (size < HEADER_BYTES) throw new UserError(`${name}: too short for a llama2.c checkpoint header (${size} bytes)`);
  const header = Buffer.alloc(HEADER_BYTES);
  readCheckpoint(abs, header, 0);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSigned, seqLen] = Array.from({ length: 7 }, (_, i) =>
    header.readInt32LE(4 * i),
  );
  const vocab = Math.abs(vocabSigned);
  const shared = vocabSigned > 0;
  const sane =
    [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen].every((v) => v > 0 && v < 1 << 24) &&
    dim % nHeads === 0 &&
    nHeads % nKvHeads === 0;
  if (!sane)
    throw new UserError(
      `${name}: not a llama2.c checkpoint (header ${[dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSigned, seqLen]} is not plausible)`,
    );
  const hs = dim / nHeads;
  const kvDim = nKvHeads * hs;
  const floats =
    vocab * dim +
    nLayers * (2 * dim + 2 * dim * dim + 2 * dim * kvDim + 3 * dim * hiddenDim) +
    dim +
    seqLen * hs +
    (shared ? 0 : vocab * dim);
  const expected = HEADER_BYTES + 4 * floats;
  if (size !== expected) {
    throw new UserError(
      `${name}: size ${size} bytes does not match its header (expected ${expected} for dim ${dim}, ${nLayers} layers, vocab ${vocab}); truncated or not legacy format`,
    );
  }

  // Float offsets of every tensor, in file order (all below 2^53, so plain numbers).
  let off = 0;
  const take = (n: number) => {
    const at = off;
    off += n;
    return { at, n };
  };
  const perLayer = (n: number) => Array.from({ length: nLayers }, () => take(n));
  const embedAt = take(vocab * dim);
  const rmsAtt = perLayer(dim);
  const wq = perLayer(dim * dim);
  const wk = perLayer(kvDim * dim);
  const wv = perLayer(kvDim * dim);
  const wo = perLayer(dim * dim);
  const rmsFfn = perLayer(dim);
  const w1 = perLayer(hiddenDim * dim);
  const w2 = perLayer(dim * hiddenDim);
  const w3 = perLayer(hiddenDim * dim);
  const rmsFinal = take(dim);
  take(seqLen * hs); // legacy freq_cis tables, unused: RoPE is computed from theta
  const wcls = shared ? embedAt : take(vocab * dim);

  // Each read() reads the tensor afresh: nothing is cached, so memory stays one tensor at a time.
  const raw = (r: { at: number; n: number }) => readFloats(abs, r.at, r.n);
  const lazy = (n: string, shape: number[], read: () => Float32Array): Weight => ({
    name: n,
    shape,
    storedBytesPerElement: 4,
    read,
  });
  const vec = (n: string, r: { at: number; n: number }) => lazy(n, [r.n], () => raw(r));
  // [out, in] → our [in, out]
  const lin = (n: string, r: { at: number; n: number }, out: number, inp: number, rope?: number): Weight =>
    lazy(n, [inp, out], () => transpose2d(rope ? interleavedToHalves(raw(r), rope, hs, inp) : raw(r), out, inp));
  const layerWeights: LayerWeights[] = [];
  for (let l = 0; l < nLayers; l++) {
    layerWeights.push({
      inputNorm: vec(normName(l, 'inputNorm'), rmsAtt[l]),
      q: lin(linearName(l, 'q'), wq[l], dim, dim, nHeads),
      k: lin(linearName(l, 'k'), wk[l], kvDim, dim, nKvHeads),
      v: lin(linearName(l, 'v'), wv[l], kvDim, dim),
      o: lin(linearName(l, 'o'), wo[l], dim, dim),
      postNorm: vec(normName(l, 'postNorm'), rmsFfn[l]),
      gate: lin(linearName(l, 'gate'), w1[l], hiddenDim, dim),
      up: lin(linearName(l, 'up'), w3[l], hiddenDim, dim),
      down: lin(linearName(l, 'down'), w2[l], dim, hiddenDim),
    });
  }
  const config: DecoderConfig = {
    family: 'llama',
    layers: nLayers,
    hidden: dim,
    heads: nHeads,
    kvHeads: nKvHeads,
    headDim: hs,
    intermediate: hiddenDim,
    vocab,
    ropeTheta: 10000,
    normEps: 1e-5,
    tiedEmbeddings: shared,
    maxPositions: seqLen,
    bosTokenId: 1,
    eosTokenId: 2,
  };
  return {
    config,
    layers: Array.from({ length: nLayers }, () => denseLayerShape(config)),
    embed: lazy(EMBED_NAME, [vocab, dim], () => raw(embedAt)),
    layerWeights,
    finalNorm: vec(FINAL_NORM_NAME, rmsFinal),
    // A shared classifier keeps the embedding's name so it is counted once.
    lmHead: lin(shared ? EMBED_NAME : LM_HEAD_NAME, wcls, vocab, dim),
    source: { path: abs, format: 'llama2c', adapter: LLAMA2C_ADAPTER },
  };
}
