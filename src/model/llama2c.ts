// Reader for llama2.c "legacy" (version 0) checkpoints; format in shared/fixtures/README.md §1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { transpose2d } from './transpose';
import type { Decoder, DecoderConfig, LayerWeights, Weight } from './decoder';
import { denseLayerShape, memoryWeight } from './decoder';

export const LLAMA2C_ADAPTER = 'llama2.c checkpoint (legacy v0)';

/**
 * llama2.c rotates interleaved pairs (2i, 2i+1) inside a head; our graphs rotate halves (i, i + d/2), like
 * Hugging Face. Reordering the q/k output rows inside each head makes the two the same network.
 */
function interleavedToHalves(w: Float32Array, heads: number, headDim: number, inDim: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (const [src, dst] of [[2 * i, i], [2 * i + 1, i + half]]) {
        const from = (h * headDim + src) * inDim;
        out.set(w.subarray(from, from + inDim), (h * headDim + dst) * inDim);
      }
    }
  }
  return out;
}

export function readLlama2c(file: string): Decoder {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new UserError(`${file}: file not found`);
  const buf = fs.readFileSync(abs);
  const name = path.basename(file);
  if (buf.length < 28) throw new UserError(`${name}: too short for a llama2.c checkpoint header (${buf.length} bytes)`);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSigned, seqLen] = Array.from({ length: 7 }, (_, i) => buf.readInt32LE(4 * i));
  const vocab = Math.abs(vocabSigned);
  const shared = vocabSigned > 0;
  const sane = [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen].every((v) => v > 0 && v < 1 << 24) && dim % nHeads === 0 && nHeads % nKvHeads === 0;
  if (!sane) throw new UserError(`${name}: not a llama2.c checkpoint (header ${[dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSigned, seqLen]} is not plausible)`);
  const hs = dim / nHeads;
  const kvDim = nKvHeads * hs;
  const floats = vocab * dim + nLayers * (2 * dim + 2 * dim * dim + 2 * dim * kvDim + 3 * dim * hiddenDim) + dim + seqLen * hs + (shared ? 0 : vocab * dim);
  const expected = 28 + 4 * floats;
  if (buf.length !== expected) {
    throw new UserError(`${name}: size ${buf.length} bytes does not match its header (expected ${expected} for dim ${dim}, ${nLayers} layers, vocab ${vocab}); truncated or not legacy format`);
  }
  const all = new Float32Array(floats);
  new Uint8Array(all.buffer).set(buf.subarray(28));
  let off = 0;
  const take = (n: number) => all.subarray(off, (off += n));
  const perLayer = (n: number) => Array.from({ length: nLayers }, () => take(n));

  const embedData = take(vocab * dim);
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
  const wcls = shared ? embedData : take(vocab * dim);

  // [out, in] → our [in, out]
  const lin = (n: string, w: Float32Array, out: number, inp: number): Weight => memoryWeight(n, [inp, out], transpose2d(w, out, inp));
  const layerWeights: LayerWeights[] = [];
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}`;
    layerWeights.push({
      inputNorm: memoryWeight(`${p}.input_layernorm.weight`, [dim], rmsAtt[l]),
      q: lin(`${p}.self_attn.q_proj.weight`, interleavedToHalves(wq[l], nHeads, hs, dim), dim, dim),
      k: lin(`${p}.self_attn.k_proj.weight`, interleavedToHalves(wk[l], nKvHeads, hs, dim), kvDim, dim),
      v: lin(`${p}.self_attn.v_proj.weight`, wv[l], kvDim, dim),
      o: lin(`${p}.self_attn.o_proj.weight`, wo[l], dim, dim),
      postNorm: memoryWeight(`${p}.post_attention_layernorm.weight`, [dim], rmsFfn[l]),
      gate: lin(`${p}.mlp.gate_proj.weight`, w1[l], hiddenDim, dim),
      up: lin(`${p}.mlp.up_proj.weight`, w3[l], hiddenDim, dim),
      down: lin(`${p}.mlp.down_proj.weight`, w2[l], dim, hiddenDim),
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
    embed: memoryWeight('model.embed_tokens.weight', [vocab, dim], embedData),
    layerWeights,
    finalNorm: memoryWeight('model.norm.weight', [dim], rmsFinal),
    // A shared classifier keeps the embedding's name so it is counted once.
    lmHead: memoryWeight(shared ? 'model.embed_tokens.weight' : 'lm_head.weight', [dim, vocab], transpose2d(wcls, vocab, dim)),
    source: { path: abs, format: 'llama2c', adapter: LLAMA2C_ADAPTER },
  };
}
