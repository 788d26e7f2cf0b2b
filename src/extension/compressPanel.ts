// The webview panel beside the model's config: the form, live search / reformation progress, the report.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { FormChoices, HostToWebview, WebviewToHost } from '../../webview/protocol';
import type { CompressReport } from '../job/compressReport';
import type { ModelSummary } from '../job/inspect';
import { runCliJob, runCliJson, type RunningJob } from './childJob';
import { settings } from './config';
import { webviewHtml } from './webviewHtml';
import { rememberJob, forgetJob } from './resume';
import { compressArgs } from './compressArgs';
import { COMPRESS_METHODS, DEFAULT_GRANULARITY, DEFAULT_SEED, PROVIDERS, RATIO } from '../job/defaults';

/** The form's lists and the ratio's range, sent to the webview with its init message. */
const FORM_CHOICES: FormChoices = {
  methods: [...COMPRESS_METHODS],
  providers: [...PROVIDERS],
  ratio: { exclusiveMinimum: RATIO.exclusiveMinimum, exclusiveMaximum: RATIO.exclusiveMaximum },
};

export interface PanelContext {
  extensionUri: vscode.Uri;
  cli: string;
  demoText: string;
  output: vscode.OutputChannel;
  state: vscode.Memento;
}

function defaultOut(model: string): string {
  const base = settings().outputLocation || path.dirname(model);
  const name = path.basename(path.dirname(model)) || 'model';
  for (let i = 1; ; i++) {
    const candidate = path.join(base, `${name}-compressed${i > 1 ? `-${i}` : ''}`);
    if (!fs.existsSync(candidate) && !fs.existsSync(`${candidate}.partial`)) return candidate;
  }
}

export class CompressPanel {
  private static readonly panels = new Map<string, CompressPanel>();
  private job?: RunningJob<CompressReport>;
  private report?: CompressReport;

  static async show(model: string, ctx: PanelContext, extraArgs: string[] = []): Promise<CompressPanel> {
    const existing = CompressPanel.panels.get(model);
    if (existing) {
      existing.panel.reveal(vscode.ViewColumn.Beside);
      return existing;
    }
    // The model's config on the left, the panel beside it.
    const config = ['config.json', 'genai_config.json']
      .map((f) => path.join(path.dirname(model), f))
      .find((f) => fs.existsSync(f));
    if (config)
      await vscode.window.showTextDocument(vscode.Uri.file(config), {
        viewColumn: vscode.ViewColumn.One,
        preview: true,
      });
    const panel = vscode.window.createWebviewPanel(
      'subnetSearch.compress',
      `Compress: ${path.basename(path.dirname(model))}`,
      vscode.ViewColumn.Beside,
      {
        enableScripts: true,
        retainContextWhenHidden: true,
        localResourceRoots: [
          vscode.Uri.joinPath(ctx.extensionUri, 'dist'),
          vscode.Uri.joinPath(ctx.extensionUri, 'media'),
        ],
      },
    );
    const p = new CompressPanel(model, panel, ctx, extraArgs);
    CompressPanel.panels.set(model, p);
    return p;
  }

  private constructor(
    readonly model: string,
    readonly panel: vscode.WebviewPanel,
    private readonly ctx: PanelContext,
    private readonly extraArgs: string[],
  ) {
    panel.iconPath = vscode.Uri.joinPath(ctx.extensionUri, 'media', 'icon.svg');
    panel.webview.html = webviewHtml(panel.webview, ctx.extensionUri);
    panel.webview.onDidReceiveMessage((m: WebviewToHost) => this.onMessage(m));
    panel.onDidDispose(() => {
      this.job?.cancel();
      CompressPanel.panels.delete(model);
    });
  }

  private post(m: HostToWebview): void {
    void this.panel.webview.postMessage(m);
  }

  private async onMessage(m: WebviewToHost): Promise<void> {
    switch (m.type) {
      case 'ready': {
        const s = settings();
        try {
          const summary = await runCliJson<ModelSummary>(
            this.ctx.cli,
            ['inspect', this.model, '--json'],
            this.ctx.output,
          );
          this.post({
            type: 'init',
            model: this.model,
            summary,
            form: {
              ratio: s.ratio,
              granularity: DEFAULT_GRANULARITY,
              calib: s.calibration,
              provider: s.provider,
              out: defaultOut(this.model),
              preset: 'quick',
              method: 'search',
              reform: true,
              depth: false,
              sparsity: '',
              profile: 'uniform',
              bits: '',
              dtype: '',
              seed: DEFAULT_SEED,
            },
            choices: FORM_CHOICES,
          });
          if (this.report) this.post({ type: 'done', report: this.report });
        } catch (e) {
          this.post({ type: 'failed', message: e instanceof Error ? e.message : String(e) });
        }
        break;
      }
      case 'pickCalibration': {
        const picked = await vscode.window.showOpenDialog({
          canSelectMany: false,
          filters: { Text: ['txt', 'jsonl'] },
          openLabel: 'Use as calibration text',
        });
        if (picked?.[0]) this.post({ type: 'calibration', path: picked[0].fsPath });
        break;
      }
      case 'run':
        await this.run(compressArgs(this.model, m.form, this.ctx.demoText), m.form.out);
        break;
      case 'cancel':
        this.job?.cancel();
        break;
      case 'openFolder':
        if (this.report)
          void vscode.commands.executeCommand(
            'revealFileInOS',
            vscode.Uri.file(path.join(this.report.out, 'model.onnx')),
          );
        break;
      case 'openReport':
        if (this.report)
          void vscode.commands.executeCommand(
            'markdown.showPreview',
            vscode.Uri.file(path.join(this.report.out, 'report.md')),
          );
        break;
    }
  }

  /** Runs `compress` in a child process with a cancellable progress notification. */
  async run(args: string[], out: string): Promise<CompressReport | undefined> {
    if (this.job) return undefined;
    const threads = settings().threads;
    const all = [...args, ...this.extraArgs, ...(threads > 0 ? ['--threads', String(threads)] : [])];
    await rememberJob(this.ctx.state, { model: this.model, out, args: all });
    this.post({ type: 'started' });
    return vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Compressing ${path.basename(path.dirname(this.model))}`,
        cancellable: true,
      },
      async (progress, token) => {
        this.job = runCliJob<CompressReport>(this.ctx.cli, all, this.ctx.output, (event) => {
          this.post({ type: 'event', event });
          // The job's warnings (input checks, memory) would otherwise show only in the report, if the job gets there.
          if (event.type === 'warning') {
            this.ctx.output.appendLine(`warning: ${event.message}`);
            void vscode.window.showWarningMessage(`Subnet Search: ${event.message}`);
          }
          if (event.type === 'log') this.ctx.output.appendLine(event.message);
          if (event.type === 'stage') progress.report({ message: event.stage });
          if (event.type === 'progress')
            progress.report({ message: `${event.stage}: ${event.done}/${event.total} ${event.unit}` });
          if (event.type === 'generation')
            progress.report({
              message: `generation ${event.summary.generation}/${event.generations}: best perplexity ${event.summary.bestSoFar.toFixed(3)}`,
            });
        });
        token.onCancellationRequested(() => this.job?.cancel());
        try {
          this.report = await this.job.result;
          await forgetJob(this.ctx.state);
          this.post({ type: 'done', report: this.report });
          return this.report;
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          this.post({ type: 'failed', message });
          void vscode.window.showErrorMessage(`Subnet Search: ${message}`);
          return undefined;
        } finally {
          this.job = undefined;
        }
      },
    );
  }
}
