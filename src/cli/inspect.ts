import * as path from 'node:path';
import type { ModelSummary } from '../job/inspect';
import { formatCount, table } from './format';
import { formatBytes } from '../util/formatBytes';

/** The family's options, when it has any beyond the plain Llama layout. */
function familyOptions(c: ModelSummary['config']): string[] {
  const r = c.ropeScaling;
  const options = [
    ...(c.qkvBias ? ['q/k/v biases'] : []),
    ...(r
      ? [
          `RoPE ${r.type} scaling ×${r.factor} (low ${r.lowFreqFactor}, high ${r.highFreqFactor}, original context ${r.originalMaxPositions})`,
        ]
      : []),
    ...(c.slidingWindow ? [`sliding window ${c.slidingWindow}`] : []),
    ...(c.normWeightOffset ? [`norms scale by ${c.normWeightOffset} + weight`] : []),
    ...(c.mlpActivation === 'gelu_tanh' ? ['GeGLU (tanh GELU)'] : []),
    ...(c.embedScale ? [`embeddings × ${c.embedScale}`] : []),
  ];
  return options.length ? [`  ${c.family}: ${options.join(', ')}`] : [];
}

/** A per-layer value as one number where every layer has it, or its range (a pruned model's layers differ). */
function acrossLayers(s: ModelSummary, key: 'heads' | 'kvHeads' | 'intermediate'): { text: string; varies: boolean } {
  const values = s.layers.map((l) => l[key]);
  const [lo, hi] = [Math.min(...values), Math.max(...values)];
  return values.length && lo !== hi
    ? { text: `${lo}–${hi}`, varies: true }
    : { text: String(values[0] ?? s.config[key]), varies: false };
}

export function printSummary(s: ModelSummary): string {
  const c = s.config;
  const [heads, kvHeads, mlp] = (['heads', 'kvHeads', 'intermediate'] as const).map((k) => acrossLayers(s, k));
  const varies = heads.varies || kvHeads.varies || mlp.varies;
  const head = [
    `${path.basename(s.file)}  (${s.adapter}, ${formatBytes(s.fileBytes)} on disk, linear weights ${s.linearWeights})`,
    `  ${c.layers} layers, hidden ${c.hidden}, ${heads.text} heads / ${kvHeads.text} KV heads × ${c.headDim}, MLP ${mlp.text}${varies ? ' (per layer below)' : ''}, vocab ${c.vocab}`,
    `  RoPE θ ${c.ropeTheta}, RMSNorm ε ${c.normEps}, context ${c.maxPositions}, tied embeddings: ${c.tiedEmbeddings ? 'yes' : 'no'}`,
    ...familyOptions(c),
    '',
  ];
  const rows = s.layers.map((l) => [
    String(l.index),
    l.heads,
    l.kvHeads,
    l.headDim,
    l.intermediate,
    formatCount(l.params),
    formatBytes(l.bytes),
  ]);
  rows.push(['total', '', '', '', '', formatCount(s.totals.params), formatBytes(s.totals.bytes)]);
  return [
    ...head,
    table(['layer', 'heads', 'kv heads', 'head dim', 'MLP', 'params', 'bytes'], rows),
    '',
    `  total includes embeddings, final norm and lm_head; KV cache ${formatBytes(s.totals.kvCacheBytesPerToken)} per token (${s.totals.kvCacheType})`,
  ].join('\n');
}
