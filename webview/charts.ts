// Search progress (best / median perplexity per generation) and the Pareto view of every evaluated candidate.
import {
  Chart,
  LineController,
  LineElement,
  PointElement,
  LinearScale,
  ScatterController,
  Legend,
  Tooltip,
} from 'chart.js';
import { paretoFront } from './heatmap';

Chart.register(LineController, LineElement, PointElement, LinearScale, ScatterController, Legend, Tooltip);

const css = (name: string, fallback: string) =>
  getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;

function base(): object {
  const fg = css('--vscode-foreground', '#ccc');
  const grid = css('--vscode-widget-border', 'rgba(128,128,128,0.3)');
  const axis = (title: string) => ({
    type: 'linear',
    title: { display: true, text: title, color: fg },
    ticks: { color: fg },
    grid: { color: grid },
  });
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    plugins: { legend: { labels: { color: fg } } },
    axis,
  };
}

export function progressChart(canvas: HTMLCanvasElement): {
  update(gens: { generation: number; best: number; median: number }[]): void;
} {
  const b = base() as { axis: (t: string) => object };
  const chart = new Chart(canvas, {
    type: 'line',
    data: {
      datasets: [
        { label: 'best so far', data: [], borderColor: css('--vscode-charts-blue', '#3794ff'), pointRadius: 2 },
        {
          label: 'median of generation',
          data: [],
          borderColor: css('--vscode-charts-orange', '#d18616'),
          pointRadius: 2,
        },
      ],
    },
    options: { ...(b as object), scales: { x: b.axis('generation'), y: b.axis('perplexity') } } as never,
  });
  return {
    update(gens) {
      chart.data.datasets[0].data = gens.map((g) => ({ x: g.generation, y: g.best })) as never;
      chart.data.datasets[1].data = gens.map((g) => ({ x: g.generation, y: g.median })) as never;
      chart.update();
    },
  };
}

export function paretoChart(canvas: HTMLCanvasElement): { update(points: [number, number][]): void } {
  const b = base() as { axis: (t: string) => object };
  const chart = new Chart(canvas, {
    type: 'scatter',
    data: {
      datasets: [
        {
          label: 'evaluated candidates',
          data: [],
          backgroundColor: css('--vscode-charts-gray', '#888'),
          pointRadius: 2,
        },
        {
          type: 'line',
          label: 'Pareto front',
          data: [],
          borderColor: css('--vscode-charts-green', '#89d185'),
          pointRadius: 3,
          stepped: true,
        } as never,
      ],
    },
    options: { ...(b as object), scales: { x: b.axis('parameters'), y: b.axis('perplexity') } } as never,
  });
  return {
    update(points) {
      chart.data.datasets[0].data = points.map(([x, y]) => ({ x, y })) as never;
      chart.data.datasets[1].data = paretoFront(points).map(([x, y]) => ({ x, y })) as never;
      chart.update();
    },
  };
}
