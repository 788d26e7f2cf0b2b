// The panel UI: a short form, live search / reformation progress, heatmaps and the final report. It talks to the
// extension host only through the typed messages of protocol.ts.
import {
  provideVSCodeDesignSystem,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDropdown,
  vsCodeOption,
  vsCodeTextField,
  vsCodeDivider,
  vsCodeProgressRing,
} from '@vscode/webview-ui-toolkit';
import type { CompressForm, FormChoices, HostToWebview, WebviewToHost } from './protocol';
import type { CompressReport } from '../src/job/compressReport';
import type { ModelSummary } from '../src/job/inspect';
import type { MasksFile } from '../src/compress/masksFile';
import type { LayerReformReport } from '../src/compress/reform/reformation';
import { describeReformError } from '../src/compress/reform/reformError';
import { attentionCells, mlpCells, profileCells } from './heatmap';
import { drawHeatmap } from './draw';
import { paretoChart, progressChart } from './charts';
import { tokensPerSecondText } from '../src/util/tokensPerSecond';

provideVSCodeDesignSystem().register(
  vsCodeButton(),
  vsCodeCheckbox(),
  vsCodeDropdown(),
  vsCodeOption(),
  vsCodeTextField(),
  vsCodeDivider(),
  vsCodeProgressRing(),
);

declare function acquireVsCodeApi(): {
  postMessage(m: WebviewToHost): void;
  getState(): State | undefined;
  setState(s: State): void;
};
const vscode = acquireVsCodeApi();

interface State {
  model?: string;
  summary?: ModelSummary;
  form?: CompressForm;
  /** The form's lists and the ratio's range, from the host's init message. */
  choices?: FormChoices;
  running: boolean;
  stage?: string;
  startedAt?: number;
  /** Steps inside the current stage (layers, batches), and when its first step was reported. */
  steps?: { stage: string; done: number; total: number; unit: string; since: number };
  generations: { generation: number; best: number; median: number; of: number }[];
  points: [number, number][];
  best?: MasksFile['layers'];
  reform: LayerReformReport[];
  report?: CompressReport;
  error?: string;
}

let state: State = vscode.getState() ?? { running: false, generations: [], points: [], reform: [] };
const save = () => vscode.setState(state);
const app = document.getElementById('app')!;
const el = (tag: string, attrs: Record<string, string> = {}, text?: string): HTMLElement => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const row = el('div', { class: 'field' });
  const l = el('label', {}, label);
  row.append(l, control);
  if (hint) row.append(el('span', { class: 'hint' }, hint));
  return row;
}

function dropdown(id: string, options: (readonly [string, string])[], value: string): HTMLElement {
  const d = el('vscode-dropdown', { id });
  for (const [v, text] of options) {
    const o = el('vscode-option', { value: v }, text);
    if (v === value) o.setAttribute('selected', '');
    d.append(o);
  }
  return d;
}

const value = (id: string) => (document.getElementById(id) as unknown as { value: string }).value;
const checked = (id: string) => (document.getElementById(id) as unknown as { checked: boolean }).checked;

function readForm(): CompressForm {
  return {
    ratio: Number(value('ratio')),
    granularity: value('granularity') as CompressForm['granularity'],
    calib: value('calib'),
    provider: value('provider'),
    out: value('out'),
    preset: value('preset') as CompressForm['preset'],
    method: value('method'),
    reform: checked('reform'),
    depth: checked('depth'),
    sparsity: value('sparsity'),
    profile: value('profile'),
    bits: value('bits'),
    dtype: value('dtype'),
    seed: Number(value('seed')),
  };
}

function renderForm(f: CompressForm, c: FormChoices): HTMLElement {
  const form = el('section', { class: 'form', 'aria-label': 'Compression settings' });
  const text = (id: string, v: string, extra: Record<string, string> = {}) =>
    el('vscode-text-field', { id, value: v, ...extra });
  const calib = el('div', { class: 'inline' });
  calib.append(
    text('calib', f.calib, { placeholder: 'embedded TinyStories sample' }),
    Object.assign(el('vscode-button', { appearance: 'secondary', id: 'browse' }, 'Browse…'), {
      onclick: () => vscode.postMessage({ type: 'pickCalibration' }),
    }),
  );
  form.append(
    field(
      'Keep (fraction of parameters)',
      text('ratio', String(f.ratio), {
        type: 'number',
        min: String(c.ratio.exclusiveMinimum),
        max: String(c.ratio.exclusiveMaximum),
        step: '0.05',
      }),
      'e.g. 0.8 keeps 80% of all parameters',
    ),
    field('Sub-network', dropdown('method', c.methods, f.method)),
    field(
      'Granularity',
      dropdown(
        'granularity',
        [
          ['head', 'whole heads'],
          ['channel', 'head-dim channels'],
        ],
        f.granularity,
      ),
    ),
    field(
      'Search preset',
      dropdown(
        'preset',
        [
          ['quick', 'quick'],
          ['small', 'small'],
          ['paper', 'paper (slow)'],
        ],
        f.preset,
      ),
    ),
    field('Calibration text', calib),
    field(
      'Execution provider',
      dropdown(
        'provider',
        c.providers.map((p) => [p, p]),
        f.provider,
      ),
    ),
    field('Output folder', text('out', f.out), 'a new folder; nothing is overwritten'),
    field(
      'Then sparsify',
      dropdown(
        'sparsity',
        [
          ['', 'no'],
          ['0.5', '50% (SparseGPT)'],
          ['2:4', '2:4 (SparseGPT)'],
        ],
        f.sparsity,
      ),
    ),
    field(
      'Sparsity per layer',
      dropdown(
        'profile',
        [
          ['uniform', 'uniform'],
          ['owl', 'OWL (outlier-weighted)'],
          ['search', 'searched (EvoPress-style)'],
        ],
        f.profile,
      ),
      'for 50%: spread the same total sparsity over the layers',
    ),
    field(
      'Then quantize',
      dropdown(
        'bits',
        [
          ['', 'no'],
          ['8', 'int8'],
          ['4', 'int4'],
        ],
        f.bits,
      ),
    ),
    field(
      'Export as',
      dropdown(
        'dtype',
        [
          ['', "the model's own type"],
          ['fp16', 'fp16'],
          ['bf16', 'bf16'],
          ['fp32', 'fp32'],
        ],
        f.dtype,
      ),
    ),
    field('Seed', text('seed', String(f.seed), { type: 'number' })),
  );
  const checkbox = (id: string, on: boolean, label: string) =>
    el('vscode-checkbox', { id, ...(on ? { checked: '' } : {}) }, label);
  const reform = checkbox('reform', f.reform, 'Reform kept weights (least squares)');
  const depth = checkbox('depth', f.depth, 'Search may drop the last layers (below 0.7)');
  const actions = el('div', { class: 'actions' });
  const run = el('vscode-button', { id: 'run' }, 'Compress');
  run.onclick = () => {
    state.form = readForm();
    vscode.postMessage({ type: 'run', form: state.form });
  };
  const cancel = el('vscode-button', { id: 'cancel', appearance: 'secondary' }, 'Cancel');
  cancel.onclick = () => vscode.postMessage({ type: 'cancel' });
  if (state.running) run.setAttribute('disabled', '');
  else cancel.setAttribute('disabled', '');
  actions.append(run, cancel);
  form.append(reform, depth, actions);
  return form;
}

function renderProgress(): HTMLElement {
  const s = el('section', { class: 'progress', 'aria-label': 'Progress' });
  const g = state.generations.at(-1);
  const elapsed = state.startedAt ? (Date.now() - state.startedAt) / 1000 : 0;
  const eta = g && g.generation > 0 ? (elapsed / (g.generation + 1)) * (g.of - g.generation) : undefined;
  s.append(el('h2', {}, 'Progress'));
  const line = el(
    'p',
    { id: 'stage' },
    state.stage
      ? `${state.stage}${g ? ` — generation ${g.generation}/${g.of}, ${state.points.length} candidates evaluated, best perplexity ${g.best.toFixed(3)}` : ''}${state.running ? ` · ${elapsed.toFixed(0)} s elapsed${eta !== undefined ? `, about ${eta.toFixed(0)} s left` : ''}` : ''}`
      : 'Not started.',
  );
  s.append(line);
  const st = state.steps;
  if (state.running && st && st.done < st.total) {
    const left = st.done > 0 ? ((Date.now() - st.since) / st.done) * (st.total - st.done) : undefined;
    s.append(
      el(
        'p',
        { id: 'steps' },
        `${st.stage}: ${st.done}/${st.total} ${st.unit}${left !== undefined ? `, about ${left.toFixed(0)} s left in this stage` : ''}`,
      ),
    );
  }
  if (state.running) s.prepend(el('vscode-progress-ring'));
  const charts = el('div', { class: 'charts' });
  const c1 = el('div', { class: 'chart' });
  const c2 = el('div', { class: 'chart' });
  const p1 = <HTMLCanvasElement>(
    el('canvas', { id: 'progressChart', 'aria-label': 'best and median perplexity per generation' })
  );
  const p2 = <HTMLCanvasElement>(
    el('canvas', { id: 'paretoChart', 'aria-label': 'parameters vs perplexity of all evaluated candidates' })
  );
  c1.append(p1);
  c2.append(p2);
  charts.append(c1, c2);
  s.append(charts);
  queueMicrotask(() => {
    if (!state.generations.length) return;
    progressChart(p1).update(state.generations);
    paretoChart(p2).update(state.points);
  });
  return s;
}

function renderHeatmaps(): HTMLElement | undefined {
  const layers = state.best;
  const shapes = state.summary?.layers;
  if (!layers || !shapes) return undefined;
  const s = el('section', { class: 'heatmaps', 'aria-label': 'Kept heads and channels per layer' });
  s.append(el('h2', {}, 'What is kept'));
  const tooltip = el('div', { class: 'tooltip', role: 'status' });
  tooltip.hidden = true;
  const attn = <HTMLCanvasElement>el('canvas', { id: 'attnHeatmap', tabindex: '0' });
  const mlp = <HTMLCanvasElement>el('canvas', { id: 'mlpHeatmap', tabindex: '0' });
  s.append(el('h3', {}, 'Attention: layers × heads'), attn, el('h3', {}, 'MLP: layers × channel blocks'), mlp, tooltip);
  const legend = el('p', { class: 'legend' });
  legend.append(
    el('span', { class: 'swatch kept' }),
    ' kept  ',
    el('span', { class: 'swatch removed' }),
    ' removed (shade = fraction kept)',
  );
  s.append(legend);
  queueMicrotask(() => {
    drawHeatmap(attn, attentionCells(layers, shapes), tooltip, 'attention heads kept');
    drawHeatmap(mlp, mlpCells(layers, shapes), tooltip, 'MLP channels kept');
  });
  return s;
}

function renderReform(): HTMLElement | undefined {
  if (!state.reform.length) return undefined;
  const s = el('section', { class: 'reform', 'aria-label': 'Reformation' });
  s.append(el('h2', {}, 'Reformation'));
  const t = el('table');
  const head = el('tr');
  for (const h of ['layer', 'o_proj error before → after', 'down_proj error before → after'])
    head.append(el('th', {}, h));
  t.append(head);
  for (const r of state.reform) {
    const row = el('tr');
    row.append(
      el('td', {}, String(r.layer)),
      el('td', {}, describeReformError(r.o)),
      el('td', {}, describeReformError(r.down)),
    );
    t.append(row);
  }
  s.append(t);
  return s;
}

/** The per-linear levels of a --profile owl / search weight stage, as a layers × linears heatmap. */
function renderProfile(p: NonNullable<CompressReport['profile']>): HTMLElement {
  const s = el('div', { class: 'profile', 'aria-label': 'Per-linear profile' });
  const what =
    p.of === 'bits'
      ? 'Bits per linear (int4 / int8)'
      : `Sparsity per linear (${p.kind === 'owl' ? 'OWL' : 'searched'}, average ${(100 * p.average).toFixed(1)}%)`;
  const canvas = <HTMLCanvasElement>el('canvas', { id: 'profileHeatmap', tabindex: '0' });
  const tooltip = el('div', { class: 'tooltip', role: 'status' });
  tooltip.hidden = true;
  const levels = p.levels.flat();
  const range =
    p.of === 'bits'
      ? 'blue int8, red int4'
      : `blue ${(100 * Math.min(...levels)).toFixed(0)}% sparse … red ${(100 * Math.max(...levels)).toFixed(0)}% sparse`;
  s.append(
    el('h3', {}, `${what}: layers × q k v o gate up down`),
    canvas,
    el('p', { class: 'legend' }, range),
    tooltip,
  );
  queueMicrotask(() =>
    drawHeatmap(canvas, profileCells(p), tooltip, p.of === 'bits' ? 'of 8 bits' : 'of the weights kept'),
  );
  return s;
}

function renderReport(r: CompressReport): HTMLElement {
  const s = el('section', { class: 'report', id: 'report', 'aria-label': 'Report' });
  s.append(el('h2', {}, 'Report'));
  const t = el('table');
  const rows: [string, string, string][] = [
    ['parameters', String(r.params.before), String(r.params.after)],
    ['file size', mib(r.fileBytes.before), mib(r.fileBytes.after)],
    ['KV cache per token', `${r.kvCacheBytesPerToken.before} B`, `${r.kvCacheBytesPerToken.after} B`],
    [`perplexity (${r.pplHeldOut ? 'held-out' : 'calibration'})`, r.ppl.before.toFixed(3), r.ppl.exported.toFixed(3)],
    [
      'decode tokens/s',
      tokensPerSecondText(r.latency.original.decodeTokensPerSecond),
      tokensPerSecondText(r.latency.compressed.decodeTokensPerSecond),
    ],
    [
      `prefill ${r.latency.original.prefillTokens} tokens`,
      `${r.latency.original.prefillMs.toFixed(2)} ms`,
      `${r.latency.compressed.prefillMs.toFixed(2)} ms`,
    ],
  ];
  const head = el('tr');
  for (const h of ['', 'original', 'compressed']) head.append(el('th', {}, h));
  t.append(head);
  for (const [name, a, b] of rows) {
    const row = el('tr', { 'data-metric': name.split(' ')[0] });
    row.append(el('td', {}, name), el('td', {}, a), el('td', { class: 'after' }, b));
    t.append(row);
  }
  s.append(
    t,
    el(
      'p',
      {},
      `Masks only: ${r.ppl.search.toFixed(3)}, after reformation: ${r.ppl.after.toFixed(3)}; ratio ${r.ratio.toFixed(4)} on ${r.latency.provider}; speeds: ${r.latency.runs}.`,
    ),
  );
  for (const n of r.notes) s.append(el('p', { class: 'note' }, n));
  if (r.profile) s.append(renderProfile(r.profile));
  const actions = el('div', { class: 'actions' });
  actions.append(
    Object.assign(el('vscode-button', { id: 'openFolder' }, 'Open output folder'), {
      onclick: () => vscode.postMessage({ type: 'openFolder' }),
    }),
    Object.assign(el('vscode-button', { id: 'openReport', appearance: 'secondary' }, 'Open report'), {
      onclick: () => vscode.postMessage({ type: 'openReport' }),
    }),
  );
  s.append(actions);
  return s;
}

function render(): void {
  app.replaceChildren();
  if (!state.summary || !state.form || !state.choices) {
    app.append(el('p', {}, state.error ?? 'Reading the model…'));
    return;
  }
  const sm = state.summary;
  app.append(
    el('h1', {}, `Compress ${state.model?.split(/[\\/]/).slice(-2).join('/')}`),
    el(
      'p',
      { class: 'summary' },
      `${sm.config.layers} layers · hidden ${sm.config.hidden} · ${sm.config.heads} heads / ${sm.config.kvHeads} KV · MLP ${sm.config.intermediate} · ${sm.totals.params.toLocaleString()} parameters · ${mib(sm.fileBytes)}`,
    ),
  );
  app.append(renderForm(state.form, state.choices));
  if (state.error) app.append(el('p', { class: 'error', role: 'alert' }, state.error));
  app.append(renderProgress());
  for (const part of [renderHeatmaps(), renderReform(), state.report && renderReport(state.report)])
    if (part) app.append(part);
}

window.addEventListener('message', (e: MessageEvent<HostToWebview>) => {
  const m = e.data;
  switch (m.type) {
    case 'init':
      state = { ...state, model: m.model, summary: m.summary, form: state.form ?? m.form, choices: m.choices };
      break;
    case 'calibration':
      state.form = { ...readForm(), calib: m.path };
      break;
    case 'started':
      state = {
        ...state,
        running: true,
        error: undefined,
        report: undefined,
        generations: [],
        points: [],
        reform: [],
        best: undefined,
        startedAt: Date.now(),
        stage: 'starting',
      };
      break;
    case 'event': {
      const ev = m.event;
      if (ev.type === 'stage') state = { ...state, stage: ev.stage, steps: undefined };
      if (ev.type === 'progress')
        state.steps = {
          stage: ev.stage,
          done: ev.done,
          total: ev.total,
          unit: ev.unit,
          since: state.steps?.stage === ev.stage ? state.steps.since : Date.now(),
        };
      if (ev.type === 'candidate' && ev.ppl !== undefined) state.points.push([ev.params, ev.ppl]);
      if (ev.type === 'generation') {
        state.generations.push({
          generation: ev.summary.generation,
          best: ev.summary.bestSoFar,
          median: ev.summary.median,
          of: ev.generations,
        });
        state.best = ev.best.layers;
      }
      if (ev.type === 'reform') state.reform.push(ev.layer);
      if (ev.type === 'candidate') {
        save();
        return; // per-candidate events only feed the charts at the next generation
      }
      break;
    }
    case 'done':
      state = { ...state, running: false, report: m.report, stage: 'done' };
      break;
    case 'failed':
      state = { ...state, running: false, error: m.message };
      break;
  }
  save();
  render();
});

render();
vscode.postMessage({ type: 'ready' });
