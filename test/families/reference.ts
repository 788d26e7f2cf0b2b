// A plain-TS forward pass of a Llama-layout decoder in float64, written from what the Hugging Face config means
// (transformers' modeling_llama / _mistral / _qwen2 and modeling_rope_utils' _compute_llama3_parameters), sharing
// no code with our reader or graph builder: the independent truth the family fixtures' logits are checked against.
// Weights come by Hugging Face name in the MatMul layout [in, out]; one sequence, positions 0..S-1.
import { transpose2d } from '../../src/model/transpose';

export type WeightsByName = (name: string) => Float32Array;

/** Which family features to leave out, to show that the fixture's logits depend on each. */
export interface Ablation {
  noBias?: boolean;
  noRopeScaling?: boolean;
  noWindow?: boolean;
  /** Gemma's three differences from Llama, each alone. */
  noNormOffset?: boolean;
  noEmbedScale?: boolean;
  siluGate?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- config.json as parsed, read field by field as each family does
type Config = Record<string, any>;

/** Gemma's RMSNorm scales by (1 + weight): `offset` 1. */
function rmsNorm(x: Float64Array, w: Float32Array, eps: number, offset: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * (offset + w[i]));
}

const silu = (g: number) => g / (1 + Math.exp(-g));
/** torch's `gelu(approximate='tanh')`. */
const geluTanh = (g: number) => 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g ** 3)));

/** `x [in] · W [in, out]` (+ bias). */
function project(x: Float64Array, w: Float32Array, out: number, bias?: Float32Array): Float64Array {
  const y = new Float64Array(out);
  for (let i = 0; i < x.length; i++) for (let j = 0; j < out; j++) y[j] += x[i] * w[i * out + j];
  if (bias) for (let j = 0; j < out; j++) y[j] += bias[j];
  return y;
}

/** Inverse frequencies per rotary pair: θ^(−2p/d), with Llama 3.1's rescaling when the config asks for it. */
function inverseFrequencies(c: Config, headDim: number, a: Ablation): number[] {
  const plain = Array.from({ length: headDim / 2 }, (_, p) => 1 / c.rope_theta ** ((2 * p) / headDim));
  const s = c.rope_scaling;
  if (!s || a.noRopeScaling) return plain;
  const oldContext = s.original_max_position_embeddings;
  const lowWave = oldContext / s.low_freq_factor;
  const highWave = oldContext / s.high_freq_factor;
  return plain.map((f) => {
    const wave = (2 * Math.PI) / f;
    const scaled = wave > lowWave ? f / s.factor : f;
    if (wave < highWave || wave > lowWave) return scaled;
    const smooth = (oldContext / wave - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    return (1 - smooth) * (scaled / s.factor) + smooth * scaled;
  });
}

function rotateHalf(x: Float64Array, at: number, d: number, pos: number, freq: number[]): void {
  const half = d / 2;
  for (let p = 0; p < half; p++) {
    const cos = Math.cos(pos * freq[p]);
    const sin = Math.sin(pos * freq[p]);
    const a = x[at + p];
    const b = x[at + p + half];
    x[at + p] = a * cos - b * sin;
    x[at + p + half] = b * cos + a * sin;
  }
}

/** Logits `[S, vocab]` for `ids`. */
export function referenceLogits(c: Config, w: WeightsByName, ids: number[], a: Ablation = {}): Float64Array[] {
  const D = c.hidden_size;
  const H = c.num_attention_heads;
  const KV = c.num_key_value_heads ?? H;
  const hd = c.head_dim ?? D / H;
  const I = c.intermediate_size;
  const V = c.vocab_size;
  const eps = c.rms_norm_eps;
  // Mistral's and Phi-3's window applies to every layer; Qwen2's only with use_sliding_window (off in these fixtures).
  const window =
    ['mistral', 'phi3'].includes(c.model_type) && c.sliding_window && !a.noWindow ? c.sliding_window : Infinity;
  const freq = inverseFrequencies(c, hd, a);
  const gemma = c.model_type === 'gemma';
  const offset = gemma && !a.noNormOffset ? 1 : 0;
  const act = gemma && !a.siluGate ? geluTanh : silu;
  // Gemma: `inputs_embeds * hidden_size**0.5`, the normalizer in the weights' dtype (fp32 here).
  const embedScale = gemma && !a.noEmbedScale ? Math.fround(Math.sqrt(D)) : 1;
  const norm = (x: Float64Array, name: string) => rmsNorm(x, w(name), eps, offset);
  const embed = w('model.embed_tokens.weight');
  let h = ids.map((id) => Float64Array.from(embed.subarray(id * D, (id + 1) * D), (v) => v * embedScale));
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const bias = (m: string) => (c.model_type === 'qwen2' && !a.noBias ? w(`${p}.self_attn.${m}.bias`) : undefined);
    const x = h.map((t) => norm(t, `${p}.input_layernorm.weight`));
    const q = x.map((t, pos) => {
      const v = project(t, w(`${p}.self_attn.q_proj.weight`), H * hd, bias('q_proj'));
      for (let hh = 0; hh < H; hh++) rotateHalf(v, hh * hd, hd, pos, freq);
      return v;
    });
    const k = x.map((t, pos) => {
      const v = project(t, w(`${p}.self_attn.k_proj.weight`), KV * hd, bias('k_proj'));
      for (let hh = 0; hh < KV; hh++) rotateHalf(v, hh * hd, hd, pos, freq);
      return v;
    });
    const v = x.map((t) => project(t, w(`${p}.self_attn.v_proj.weight`), KV * hd, bias('v_proj')));
    const ctx = q.map((qt, s) => {
      const out = new Float64Array(H * hd);
      for (let hh = 0; hh < H; hh++) {
        const kvh = Math.floor(hh / (H / KV));
        const keys = Array.from({ length: s + 1 }, (_, j) => j).filter((j) => s - j < window);
        const scores = keys.map((j) => {
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += qt[hh * hd + e] * k[j][kvh * hd + e];
          return dot / Math.sqrt(hd);
        });
        const max = Math.max(...scores);
        const ex = scores.map((z) => Math.exp(z - max));
        const sum = ex.reduce((m, z) => m + z, 0);
        keys.forEach((j, n) => {
          for (let e = 0; e < hd; e++) out[hh * hd + e] += (ex[n] / sum) * v[j][kvh * hd + e];
        });
      }
      return out;
    });
    h = h.map((t, s) => t.map((val, i) => val + project(ctx[s], w(`${p}.self_attn.o_proj.weight`), D)[i]));
    h = h.map((t) => {
      const x2 = norm(t, `${p}.post_attention_layernorm.weight`);
      const gate = project(x2, w(`${p}.mlp.gate_proj.weight`), I);
      const up = project(x2, w(`${p}.mlp.up_proj.weight`), I);
      const gated = gate.map((g, i) => act(g) * up[i]);
      const down = project(gated, w(`${p}.mlp.down_proj.weight`), D);
      return t.map((val, i) => val + down[i]);
    });
  }
  const head = c.tie_word_embeddings ? transpose2d(embed, V, D) : w('lm_head.weight');
  return h.map((t) => project(norm(t, 'model.norm.weight'), head, V));
}
