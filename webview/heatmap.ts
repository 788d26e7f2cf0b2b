// Heatmap data from masks: pure functions (unit-tested), drawn by draw.ts. A cell's value is the kept fraction.
import type { MasksFile } from '../src/compress/masksFile';

export interface HeatmapData {
  rows: number; // layers
  cols: number;
  values: Float32Array; // row-major, 0 (removed) … 1 (kept)
  colLabel: (col: number) => string;
  /** The values the colour scale runs between (default 0 … 1): a profile's levels differ by a few points only. */
  colorRange?: [number, number];
  /** A cell's value in words for the tooltip (default: "N% kept"). */
  describe?: (value: number) => string;
}

type Shape = { heads: number; headDim: number; intermediate: number };

/** Layers × heads; with head-dim pruning a head's value is the fraction of its dims kept. */
export function attentionCells(layers: MasksFile['layers'], shapes: Shape[]): HeatmapData {
  const cols = Math.max(...shapes.map((s) => s.heads));
  const values = new Float32Array(layers.length * cols).fill(NaN);
  layers.forEach((l, i) => {
    const kept = new Set(l.heads);
    const pairFraction = l.pairs.length / (shapes[i].headDim / 2);
    for (let h = 0; h < shapes[i].heads; h++) values[i * cols + h] = kept.has(h) ? pairFraction : 0;
  });
  return { rows: layers.length, cols, values, colLabel: (c) => `head ${c}` };
}

/**
 * Layers × channel blocks: 11008 channels cannot be one pixel each, so they are binned into at most `maxBins`
 * blocks, each showing the fraction of its channels kept.
 */
export function mlpCells(layers: MasksFile['layers'], shapes: Shape[], maxBins = 64): HeatmapData {
  const width = Math.max(...shapes.map((s) => s.intermediate));
  const cols = Math.min(maxBins, width);
  const per = Math.ceil(width / cols);
  const values = new Float32Array(layers.length * cols).fill(NaN);
  layers.forEach((l, i) => {
    const kept = new Uint8Array(shapes[i].intermediate);
    for (const c of l.mlp) kept[c] = 1;
    for (let b = 0; b < cols; b++) {
      const from = b * per;
      const to = Math.min(shapes[i].intermediate, from + per);
      if (from >= to) continue;
      let k = 0;
      for (let c = from; c < to; c++) k += kept[c];
      values[i * cols + b] = k / (to - from);
    }
  });
  return {
    rows: layers.length,
    cols,
    values,
    colLabel: (b) => `channels ${b * per}–${Math.min(width, (b + 1) * per) - 1}`,
  };
}

const LINEAR_NAMES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/**
 * Layers × linears of a profile: the fraction of weights kept (sparsity), or bits / 8 (mixed precision), coloured
 * from the lowest level to the highest.
 */
export function profileCells(p: { of: 'sparsity' | 'bits'; levels: number[][] }): HeatmapData {
  const cols = LINEAR_NAMES.length;
  const values = Float32Array.from(p.levels.flatMap((layer) => layer.map((v) => (p.of === 'bits' ? v / 8 : 1 - v))));
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return {
    rows: p.levels.length,
    cols,
    values,
    colLabel: (c) => LINEAR_NAMES[c],
    ...(hi > lo ? { colorRange: [lo, hi] as [number, number] } : {}),
    describe: (v) => (p.of === 'bits' ? `int${Math.round(v * 8)}` : `${(100 * (1 - v)).toFixed(1)}% sparse`),
  };
}

/** The cell under a point of a heatmap drawn at `width × height`. */
export function cellAt(
  h: HeatmapData,
  width: number,
  height: number,
  x: number,
  y: number,
): { row: number; col: number } | undefined {
  const col = Math.floor((x / width) * h.cols);
  const row = Math.floor((y / height) * h.rows);
  return row >= 0 && row < h.rows && col >= 0 && col < h.cols ? { row, col } : undefined;
}

/** The lower-left staircase of (params, perplexity) points: nothing else is both smaller and better. */
export function paretoFront(points: [number, number][]): [number, number][] {
  const sorted = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const front: [number, number][] = [];
  for (const p of sorted) if (!front.length || p[1] < front[front.length - 1][1]) front.push(p);
  return front;
}
