// Random-weight decoders of real shapes, written in the Optimum layout (model.onnx + model.onnx_data, config.json,
// tokenizer) by our own exporter. Speed and memory do not depend on the values: every result measured on them says
// "random weights". The vocabulary is the Llama 2 tokenizer's 32,000 for every shape (SmolLM's 49,152, Qwen2.5's
// 151,936 and Llama 3.2's 128,256 are reduced to it), so one real tokenizer serves all of them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Decoder, DecoderConfig, FloatType, LayerWeights, MlpActivation, Weight } from '../src/model/decoder';
import { denseLayerShape, floatBytes, memoryWeight, newWeight } from '../src/model/decoder';
import { FAMILIES, type FamilyName } from '../src/model/families';
import type { Llama3RopeScaling } from '../src/model/rope';
import { narrowBytesToFloat } from '../src/onnx/tensorData';
import { biasName, EMBED_NAME, FINAL_NORM_NAME, linearName, LM_HEAD_NAME, normName } from '../src/model/names';
import { writeModelFiles } from '../src/compress/exportModel';
import { loadTokenizerFile } from '../src/text/tokenizer';
import { fixtures } from './lib';

export interface Shape {
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  tied: boolean;
  ropeTheta: number;
  maxPositions: number;
  /** Qwen2's q/k/v biases. */
  qkvBias?: boolean;
  /** The family's config options (default: Llama, plain RoPE, no window). */
  family?: FamilyName;
  ropeScaling?: Llama3RopeScaling;
  slidingWindow?: number;
  normEps?: number;
  /** Default: `VOCAB`. */
  vocab?: number;
  /** Default: hidden / heads (Gemma's differs). */
  headDim?: number;
  mlpActivation?: MlpActivation;
  /**
   * Multiplies every random value (default 1: std 0.02). Test fixtures use a larger one, and norms of 1 ± noise, so
   * that a wrong rotary frequency, bias or window changes the logits far beyond the parity tolerance.
   */
  weightScale?: number;
}

/** Published configs (layers, hidden, heads, KV heads, MLP width, tied embeddings, RoPE θ); Llama 3.2's rope_scaling is not modelled. */
export const SHAPES: Record<string, Shape> = {
  'smollm-135m': {
    layers: 30,
    hidden: 576,
    heads: 9,
    kvHeads: 3,
    intermediate: 1536,
    tied: true,
    ropeTheta: 10000,
    maxPositions: 2048,
  },
  'qwen2.5-0.5b': {
    layers: 24,
    hidden: 896,
    heads: 14,
    kvHeads: 2,
    intermediate: 4864,
    tied: true,
    ropeTheta: 1000000,
    maxPositions: 32768,
    qkvBias: true,
  },
  'tinyllama-1.1b': {
    layers: 22,
    hidden: 2048,
    heads: 32,
    kvHeads: 4,
    intermediate: 5632,
    tied: false,
    ropeTheta: 10000,
    maxPositions: 2048,
  },
  'llama-3.2-1b': {
    layers: 16,
    hidden: 2048,
    heads: 32,
    kvHeads: 8,
    intermediate: 8192,
    tied: true,
    ropeTheta: 500000,
    maxPositions: 131072,
  },
  'llama-2-7b': {
    layers: 32,
    hidden: 4096,
    heads: 32,
    kvHeads: 32,
    intermediate: 11008,
    tied: false,
    ropeTheta: 10000,
    maxPositions: 4096,
  },
};

/** The scale issue's test shape (TinyLlama's layer with 8 KV heads) at a given depth. */
export const scaleShape = (layers: number): Shape => ({
  layers,
  hidden: 2048,
  heads: 32,
  kvHeads: 8,
  intermediate: 5632,
  tied: false,
  ropeTheta: 10000,
  maxPositions: 2048,
});

export const VOCAB = 32000;
export const tokenizerFile = () => path.join(fixtures, 'llama2c', 'tokenizer.bin');

/** 64 MiB of random values (uniform, std 0.02 like Hugging Face's init) per type; tensors are windows into it. */
const POOL_ELEMENTS = 1 << 25;
const pools = new Map<FloatType, Uint8Array>();

function pool(type: FloatType): Uint8Array {
  let p = pools.get(type);
  if (p) return p;
  let s = 0x9e3779b9;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const a = 0.02 * Math.sqrt(3);
  if (type === 'float32') {
    const f = new Float32Array(POOL_ELEMENTS);
    for (let i = 0; i < f.length; i++) f[i] = (2 * next() - 1) * a;
    p = new Uint8Array(f.buffer);
  } else if (type === 'float16') {
    // fp16 bits directly: sign, exponent 2^-10..2^-6, random mantissa (|v| < 0.0156, mean |v| ≈ 0.004).
    const h = new Uint16Array(POOL_ELEMENTS);
    for (let i = 0; i < h.length; i++)
      h[i] = (next() < 0.5 ? 0x8000 : 0) | ((5 + Math.floor(next() * 5)) << 10) | Math.floor(next() * 1024);
    p = new Uint8Array(h.buffer);
  } else {
    // bf16 bits the same way: exponent 2^-10..2^-6 (bias 127), random 7-bit mantissa.
    const h = new Uint16Array(POOL_ELEMENTS);
    for (let i = 0; i < h.length; i++)
      h[i] = (next() < 0.5 ? 0x8000 : 0) | ((117 + Math.floor(next() * 5)) << 7) | Math.floor(next() * 128);
    p = new Uint8Array(h.buffer);
  }
  pools.set(type, p);
  return p;
}

function randomBytes(type: FloatType, elements: number, seed: number): Uint8Array {
  const src = pool(type);
  const bytes = elements * floatBytes(type);
  const out = new Uint8Array(bytes);
  let at = (((seed * 2654435761) >>> 0) % (src.length / 4)) * 4;
  for (let done = 0; done < bytes;) {
    const n = Math.min(bytes - done, src.length - at);
    out.set(src.subarray(at, at + n), done);
    done += n;
    at = 0;
  }
  return out;
}

function randomWeight(name: string, shape: number[], type: FloatType, seed: number, scale = 1, offset = 0): Weight {
  const n = shape.reduce((a, b) => a * b, 1);
  if (scale !== 1 || offset !== 0) {
    const values = Float32Array.from(randomWeight(name, shape, type, seed).read(), (v) => offset + scale * v);
    return newWeight(name, shape, values, type);
  }
  const bytes = () => randomBytes(type, n, seed);
  const read = () => {
    const b = bytes();
    return type === 'float32' ? new Float32Array(b.buffer) : narrowBytesToFloat(b, type);
  };
  return { name, shape, storedBytesPerElement: floatBytes(type), read, stored: { type, read: bytes } };
}

export function randomDecoder(s: Shape, type: FloatType): Decoder {
  const headDim = s.headDim ?? s.hidden / s.heads;
  const vocab = s.vocab ?? VOCAB;
  const family = FAMILIES[s.family ?? 'llama'];
  const config: DecoderConfig = {
    ...family.graphOptions?.(s.hidden, type),
    mlpActivation: s.mlpActivation,
    family: family.name,
    layers: s.layers,
    hidden: s.hidden,
    heads: s.heads,
    kvHeads: s.kvHeads,
    headDim,
    intermediate: s.intermediate,
    vocab,
    ropeTheta: s.ropeTheta,
    ropeScaling: s.ropeScaling,
    slidingWindow: s.slidingWindow,
    normEps: s.normEps ?? 1e-5,
    tiedEmbeddings: s.tied,
    maxPositions: s.maxPositions,
    bosTokenId: 1,
    eosTokenId: 2,
  };
  let seed = 1;
  const scale = s.weightScale ?? 1;
  const w = (name: string, shape: number[]) => randomWeight(name, shape, type, seed++, scale);
  // Norms scale by about 1: a family that adds an offset to its stored norm weights (Gemma: 1) stores about 0.
  const unit = 1 - (config.normWeightOffset ?? 0);
  const ones = (name: string, n: number) =>
    scale === 1
      ? memoryWeight(name, [n], new Float32Array(n).fill(unit))
      : randomWeight(name, [n], 'float32', seed++, 5, unit);
  const kv = s.kvHeads * headDim;
  const qWidth = s.heads * headDim;
  // Biases as large as the projections' outputs, so a bias read wrongly shows (fp32: they stay fp32 in the graph).
  const bias = (name: string, n: number) => randomWeight(name, [n], 'float32', seed++, scale === 1 ? 0.5 : 25);
  const layerWeights: LayerWeights[] = Array.from({ length: s.layers }, (_, i) => {
    return {
      inputNorm: ones(normName(i, 'inputNorm'), s.hidden),
      q: w(linearName(i, 'q'), [s.hidden, qWidth]),
      k: w(linearName(i, 'k'), [s.hidden, kv]),
      v: w(linearName(i, 'v'), [s.hidden, kv]),
      o: w(linearName(i, 'o'), [qWidth, s.hidden]),
      postNorm: ones(normName(i, 'postNorm'), s.hidden),
      gate: w(linearName(i, 'gate'), [s.hidden, s.intermediate]),
      up: w(linearName(i, 'up'), [s.hidden, s.intermediate]),
      down: w(linearName(i, 'down'), [s.intermediate, s.hidden]),
      ...(s.qkvBias
        ? {
            qBias: bias(biasName(i, 'qBias'), qWidth),
            kBias: bias(biasName(i, 'kBias'), kv),
            vBias: bias(biasName(i, 'vBias'), kv),
          }
        : {}),
    };
  });
  const embed = w(EMBED_NAME, [vocab, s.hidden]);
  // Our exports write the head as its own initializer, tied or not (config.json keeps tie_word_embeddings).
  const lmHead = w(LM_HEAD_NAME, [s.hidden, vocab]);
  return {
    config,
    layers: Array.from({ length: s.layers }, () => denseLayerShape(config)),
    embed,
    layerWeights,
    finalNorm: ones(FINAL_NORM_NAME, s.hidden),
    lmHead,
    source: { path: '(random weights)', format: 'onnx', adapter: 'random weights (bench)' },
    weightType: type,
  };
}

/** Writes the random model folder `dir` (if its model.onnx is not there yet) and returns its model.onnx. */
export function writeRandomModel(s: Shape, type: FloatType, dir: string): string {
  const file = path.join(dir, 'model.onnx');
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  writeModelFiles(randomDecoder(s, type), dir, loadTokenizerFile(tokenizerFile()), { externalData: 'always' });
  return file;
}
