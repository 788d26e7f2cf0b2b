// Per-layer stats inline in config.json / genai_config.json: inlay hints on the layer keys, a hover with the full
// per-layer table, both from the model beside the file.
import * as vscode from 'vscode';
import type { ModelSummary } from '../job/inspect';
import { modelBeside, modelSummary } from './modelInfo';

const KEYS = [
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'intermediate_size',
  'head_dim',
  'head_size',
  'hidden_size',
  'num_attention_heads_per_layer',
  'num_key_value_heads_per_layer',
  'intermediate_size_per_layer',
  'head_dim_per_layer',
];

const count = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
const spread = (xs: number[]) =>
  Math.min(...xs) === Math.max(...xs) ? `${xs[0]} in every layer` : `${Math.min(...xs)}–${Math.max(...xs)} per layer`;

/** The hint text for one key of the config, from what the model's weights really hold. */
export function hintFor(key: string, s: ModelSummary): string | undefined {
  const L = s.layers;
  switch (key) {
    case 'num_hidden_layers':
      return `${L.length} layers, ${count(s.totals.params)} params`;
    case 'num_attention_heads':
    case 'num_attention_heads_per_layer':
      return `heads: ${spread(L.map((l) => l.heads))}`;
    case 'num_key_value_heads':
    case 'num_key_value_heads_per_layer':
      return `KV heads: ${spread(L.map((l) => l.kvHeads))}`;
    case 'head_dim':
    case 'head_size':
    case 'head_dim_per_layer':
      return `head dim: ${spread(L.map((l) => l.headDim))}`;
    case 'intermediate_size':
    case 'intermediate_size_per_layer':
      return `MLP: ${spread(L.map((l) => l.intermediate))}`;
    case 'hidden_size':
      return `KV cache ${s.totals.kvCacheBytesPerToken} B/token`;
    default:
      return undefined;
  }
}

export function layerTable(s: ModelSummary): vscode.MarkdownString {
  const md = new vscode.MarkdownString();
  md.appendMarkdown(
    `**${s.layers.length} layers, ${s.totals.params.toLocaleString()} parameters, ${(s.fileBytes / 2 ** 20).toFixed(2)} MiB**\n\n`,
  );
  md.appendMarkdown('| layer | heads | KV heads | head dim | MLP | params |\n|---:|---:|---:|---:|---:|---:|\n');
  for (const l of s.layers)
    md.appendMarkdown(
      `| ${l.index} | ${l.heads} | ${l.kvHeads} | ${l.headDim} | ${l.intermediate} | ${l.params.toLocaleString()} |\n`,
    );
  return md;
}

function keyRanges(doc: vscode.TextDocument): { key: string; range: vscode.Range; lineEnd: vscode.Position }[] {
  const out: { key: string; range: vscode.Range; lineEnd: vscode.Position }[] = [];
  for (let i = 0; i < doc.lineCount; i++) {
    const line = doc.lineAt(i).text;
    const m = /"([a-z_]+)"\s*:/.exec(line);
    if (m && KEYS.includes(m[1])) {
      out.push({
        key: m[1],
        range: new vscode.Range(i, m.index, i, m.index + m[0].length),
        lineEnd: new vscode.Position(i, line.length),
      });
    }
  }
  return out;
}

export class LayerHints implements vscode.InlayHintsProvider, vscode.HoverProvider {
  constructor(
    private readonly cli: string,
    private readonly log: vscode.OutputChannel,
  ) {}

  private async summary(doc: vscode.TextDocument): Promise<ModelSummary | undefined> {
    const model = modelBeside(doc.uri.fsPath);
    return model ? modelSummary(this.cli, model, this.log) : undefined;
  }

  async provideInlayHints(doc: vscode.TextDocument): Promise<vscode.InlayHint[]> {
    const s = await this.summary(doc);
    if (!s) return [];
    return keyRanges(doc).flatMap(({ key, lineEnd }) => {
      const text = hintFor(key, s);
      if (!text) return [];
      const hint = new vscode.InlayHint(lineEnd, `  ${text}`, vscode.InlayHintKind.Type);
      hint.tooltip = layerTable(s);
      return [hint];
    });
  }

  async provideHover(doc: vscode.TextDocument, pos: vscode.Position): Promise<vscode.Hover | undefined> {
    const hit = keyRanges(doc).find((k) => k.range.contains(pos));
    if (!hit) return undefined;
    const s = await this.summary(doc);
    return s ? new vscode.Hover(layerTable(s), hit.range) : undefined;
  }
}
