// Canvas drawing of heatmaps in the theme's colours (VS Code's CSS variables), with hover and keyboard focus.
import { cellAt, type HeatmapData } from './heatmap';

const css = (name: string, fallback: string) =>
  getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;

function mix(a: [number, number, number], b: [number, number, number], t: number): string {
  return `rgb(${a.map((v, i) => Math.round(v + (b[i] - v) * t)).join(',')})`;
}

function rgb(color: string): [number, number, number] {
  const c = document.createElement('canvas').getContext('2d')!;
  c.fillStyle = color;
  const hex = c.fillStyle as string;
  if (hex.startsWith('#')) return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
  const m = hex.match(/\d+/g) ?? ['0', '0', '0'];
  return [Number(m[0]), Number(m[1]), Number(m[2])];
}

export function drawHeatmap(canvas: HTMLCanvasElement, h: HeatmapData, tooltip: HTMLElement, label: string): void {
  const ctx = canvas.getContext('2d')!;
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const cell = Math.max(3, Math.min(18, Math.floor(width / h.cols)));
  const height = Math.max(h.rows * Math.max(3, Math.min(cell, 18)), 24);
  canvas.height = height * dpr;
  canvas.width = width * dpr;
  canvas.style.height = `${height}px`;
  ctx.scale(dpr, dpr);
  const kept = rgb(css('--vscode-charts-blue', '#3794ff'));
  const background = rgb(css('--vscode-editor-background', '#1e1e1e'));
  // Removed cells must stand out from the page in every theme: the theme's red, halfway to the background.
  const removedFull = rgb(css('--vscode-charts-red', '#f14c4c'));
  const removed = removedFull.map((v, i) => Math.round((v + background[i]) / 2)) as [number, number, number];
  const grid = `rgb(${background.join(',')})`;
  const cw = width / h.cols;
  const ch = height / h.rows;
  ctx.fillStyle = grid;
  ctx.fillRect(0, 0, width, height);
  for (let r = 0; r < h.rows; r++) {
    for (let c = 0; c < h.cols; c++) {
      const v = h.values[r * h.cols + c];
      if (Number.isNaN(v)) continue;
      const [lo, hi] = h.colorRange ?? [0, 1];
      ctx.fillStyle = mix(removed, kept, Math.min(1, Math.max(0, (v - lo) / (hi - lo))));
      ctx.fillRect(
        c * cw + (cw > 4 ? 0.5 : 0),
        r * ch + (ch > 4 ? 0.5 : 0),
        cw - (cw > 4 ? 1 : 0),
        ch - (ch > 4 ? 1 : 0),
      );
    }
  }
  canvas.setAttribute('role', 'img');
  canvas.setAttribute(
    'aria-label',
    `${label}: ${h.rows} layers × ${h.cols} columns; ${Math.round((h.values.reduce((a, v) => a + (Number.isNaN(v) ? 0 : v), 0) / h.values.filter((v) => !Number.isNaN(v)).length) * 100)}% kept`,
  );
  canvas.onmousemove = (e) => {
    const at = cellAt(h, width, height, e.offsetX, e.offsetY);
    if (!at) return void (tooltip.hidden = true);
    const v = h.values[at.row * h.cols + at.col];
    const words = h.describe ? h.describe(v) : `${Math.round(v * 100)}% kept`;
    tooltip.textContent = `layer ${at.row}, ${h.colLabel(at.col)}: ${Number.isNaN(v) ? '—' : words}`;
    tooltip.hidden = false;
  };
  canvas.onmouseleave = () => (tooltip.hidden = true);
}
