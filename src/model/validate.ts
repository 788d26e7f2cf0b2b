import * as path from 'node:path';
import { UserError } from '../util/errors';
import type { Decoder, DecoderConfig, LayerShape } from './decoder';
import type { ConfigHints } from './hfConfig';

const MODEL_KEYS: [keyof DecoderConfig, string][] = [
  ['layers', 'num_hidden_layers'],
  ['hidden', 'hidden_size'],
  ['vocab', 'vocab_size'],
];
const LAYER_KEYS: [keyof LayerShape & keyof NonNullable<ConfigHints['perLayer']>, keyof DecoderConfig, string][] = [
  ['heads', 'heads', 'num_attention_heads'],
  ['kvHeads', 'kvHeads', 'num_key_value_heads'],
  ['headDim', 'headDim', 'head_dim'],
  ['intermediate', 'intermediate', 'intermediate_size'],
];

/**
 * Refuses a config file whose numbers contradict the weights actually found in the graph. A pruned model's
 * config carries per-layer arrays (`num_attention_heads_per_layer` ...), which are checked instead of the
 * model-wide fields.
 */
export function checkConfigAgainstGraph(d: Decoder, hints: ConfigHints): void {
  if (!hints.file) return;
  const file = path.basename(hints.file);
  const model = path.basename(d.source.path);
  const contradiction = (key: string, said: number, found: number) =>
    new UserError(
      `${file} says ${key} = ${said}, but the weights in ${model} give ${found}; the config does not belong to this model (fix or remove ${file})`,
    );
  // A number the file leaves out is not quoted as said: the user is told what it lacks and what to add.
  const unstated = (key: string, how: string, implied: number, found: number) =>
    new UserError(
      `${file} has no ${key} (read as ${how} = ${implied}); the weights in ${model} give ${found}: add "${key}": ${found} to ${file}`,
    );
  for (const [key, hfKey] of MODEL_KEYS) {
    const said = hints[key];
    if (said !== undefined && said !== d.config[key])
      throw contradiction(hfKey, said as number, d.config[key] as number);
  }
  d.layers.forEach((s, i) => {
    for (const [layerKey, configKey, hfKey] of LAYER_KEYS) {
      const perLayer = hints.perLayer?.[layerKey];
      const said = perLayer ? perLayer[i] : hints[configKey];
      if (said === undefined || said === s[layerKey]) continue;
      const how = perLayer ? undefined : hints.implied?.[configKey as 'kvHeads' | 'headDim'];
      if (how) throw unstated(hfKey, how, said as number, s[layerKey] as number);
      throw contradiction(perLayer ? `${hfKey}_per_layer[${i}]` : hfKey, said as number, s[layerKey] as number);
    }
  });
}

/** Every layer's weights must have the shapes its layer shape implies. */
export function checkWeightShapes(d: Decoder): void {
  const { hidden, vocab } = d.config;
  const fail = (what: string, got: number[], want: number[]) => {
    throw new UserError(
      `${what} has shape [${got}], expected [${want}] (from hidden ${hidden}, heads, head dim and MLP width) in ${path.basename(d.source.path)}`,
    );
  };
  const expect = (what: string, got: number[], want: number[]) => {
    if (got.length !== want.length || got.some((g, i) => g !== want[i])) fail(what, got, want);
  };
  expect('token embedding', d.embed.shape, [vocab, hidden]);
  expect('lm_head', d.lmHead.shape, [hidden, vocab]);
  expect('final norm', d.finalNorm.shape, [hidden]);
  d.layerWeights.forEach((w, i) => {
    const s = d.layers[i];
    const q = s.heads * s.headDim;
    const kv = s.kvHeads * s.headDim;
    if (s.heads % s.kvHeads !== 0)
      throw new UserError(`layer ${i}: ${s.heads} query heads are not a multiple of ${s.kvHeads} KV heads`);
    if (s.headDim % 2 !== 0)
      throw new UserError(`layer ${i}: head dim ${s.headDim} is odd; rotary embeddings need pairs`);
    expect(`layer ${i}: input_layernorm`, w.inputNorm.shape, [hidden]);
    expect(`layer ${i}: q_proj`, w.q.shape, [hidden, q]);
    expect(`layer ${i}: k_proj`, w.k.shape, [hidden, kv]);
    expect(`layer ${i}: v_proj`, w.v.shape, [hidden, kv]);
    expect(`layer ${i}: o_proj`, w.o.shape, [q, hidden]);
    expect(`layer ${i}: post_attention_layernorm`, w.postNorm.shape, [hidden]);
    expect(`layer ${i}: gate_proj`, w.gate.shape, [hidden, s.intermediate]);
    expect(`layer ${i}: up_proj`, w.up.shape, [hidden, s.intermediate]);
    expect(`layer ${i}: down_proj`, w.down.shape, [s.intermediate, hidden]);
  });
}
