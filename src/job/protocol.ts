// Every event a job emits, typed in one place: the CLI renders them as progress, the extension host forwards
// them from the job's child process to the webview.
import type { GenerationSummary } from '../compress/search/evolution';
import type { MasksFile } from '../compress/masksFile';
import type { LayerReformReport } from '../compress/reform/reformation';

export type JobEvent =
  | { type: 'stage'; stage: string; detail?: string }
  | { type: 'candidate'; generation: number; index: number; decided: number; of: number; params: number; ppl?: number }
  | {
      type: 'generation';
      summary: GenerationSummary;
      generations: number;
      best: { params: number; ppl: number; layers: MasksFile['layers'] };
    }
  | { type: 'reform'; layer: LayerReformReport; layers: number }
  /** Progress inside a stage (layers, batches of windows): renderers derive the ETA from it. */
  | { type: 'progress'; stage: string; done: number; total: number; unit: string }
  /** What the job checked and found doubtful (CRLF text, a tokenizer that may not fit, too little memory). */
  | { type: 'warning'; message: string }
  | { type: 'log'; message: string };

export type JobListener = (e: JobEvent) => void;
