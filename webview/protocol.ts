// Every message between the extension host and the webview, typed in one place (style.md: like rust-analyzer's
// lsp_ext.ts). The webview never talks to anything else.
import type { JobEvent } from '../src/job/protocol';
import type { CompressReport } from '../src/job/compressReport';
import type { ModelSummary } from '../src/job/inspect';

/** The form's fields; defaults come from the settings. */
export interface CompressForm {
  ratio: number;
  granularity: 'head' | 'channel';
  calib: string; // a file path, or '' for the embedded sample text
  provider: string;
  out: string;
  preset: 'quick' | 'small' | 'paper';
  method: string; // 'search' or a baseline
  reform: boolean;
  /** Below 0.7, let the search drop the last layers whole. */
  depth: boolean;
  sparsity: string; // '' | '0.5' | '2:4'
  /** How a fractional sparsity is spread over the linears: 'uniform' | 'owl' | 'search'. */
  profile: string;
  bits: string; // '' | '4' | '8'
  /** The export's float type: '' (the model's own) | 'fp32' | 'fp16' | 'bf16'. */
  dtype: string;
  seed: number;
}

/** What the form offers, from the host (src/job/defaults.ts): the webview hard-codes none of it. */
export interface FormChoices {
  /** `compress --method` values with their labels: the search, or a baseline instead of it. */
  methods: (readonly [string, string])[];
  providers: string[];
  /** The inheriting ratio's valid range, both ends excluded. */
  ratio: { exclusiveMinimum: number; exclusiveMaximum: number };
}

export type HostToWebview =
  | { type: 'init'; model: string; summary: ModelSummary; form: CompressForm; choices: FormChoices }
  | { type: 'calibration'; path: string }
  | { type: 'started' }
  | { type: 'event'; event: JobEvent }
  | { type: 'done'; report: CompressReport }
  | { type: 'failed'; message: string };

export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'run'; form: CompressForm }
  | { type: 'cancel' }
  | { type: 'pickCalibration' }
  | { type: 'openFolder' }
  | { type: 'openReport' };
