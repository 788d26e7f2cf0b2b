// Wiring only: each feature lives in its own file (style.md).
import * as vscode from 'vscode';
import { runCliJson } from './childJob';
import type { ModelSummary } from '../job/inspect';
import { CompressPanel, type PanelContext } from './compressPanel';
import { ConfigLens } from './configLens';
import { LayerHints, layerTable } from './layerHints';
import { modelStatusBar } from './statusBar';
import { forgetJob, interruptedJob } from './resume';

async function pickModel(uri?: vscode.Uri): Promise<vscode.Uri | undefined> {
  if (uri?.fsPath.endsWith('.onnx')) return uri;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.fsPath.endsWith('.onnx')) return active;
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    filters: { 'ONNX model': ['onnx'] },
    openLabel: 'Compress this model',
  });
  return picked?.[0];
}

export function activate(context: vscode.ExtensionContext) {
  const output = vscode.window.createOutputChannel('Subnet Search');
  const cli = vscode.Uri.joinPath(context.extensionUri, 'dist', 'cli.js').fsPath;
  const ctx: PanelContext = {
    extensionUri: context.extensionUri,
    cli,
    demoText: vscode.Uri.joinPath(context.extensionUri, 'media', 'demo', 'tinystories_sample.txt').fsPath,
    output,
    state: context.workspaceState,
  };
  const hints = new LayerHints(cli, output);
  const configFiles = [{ pattern: '**/config.json' }, { pattern: '**/genai_config.json' }];

  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('subnetSearch.compressModel', async (uri?: vscode.Uri) => {
      const model = await pickModel(uri);
      return model ? CompressPanel.show(model.fsPath, ctx) : undefined;
    }),
    vscode.commands.registerCommand('subnetSearch.inspectModel', async (uri?: vscode.Uri) => {
      const model = await pickModel(uri);
      if (!model) return undefined;
      try {
        const s = await runCliJson<ModelSummary>(cli, ['inspect', model.fsPath, '--json'], output);
        output.appendLine(`${model.fsPath}: ${s.config.layers} layers, ${s.totals.params} parameters`);
        for (const l of s.layers)
          output.appendLine(
            `  layer ${l.index}: ${l.heads} heads, ${l.kvHeads} KV heads × ${l.headDim}, MLP ${l.intermediate}, ${l.params} params`,
          );
        output.show(true);
        void vscode.window.showInformationMessage(
          `${s.config.layers} layers, ${s.totals.params.toLocaleString()} parameters, ${(s.fileBytes / 2 ** 20).toFixed(2)} MiB`,
        );
        return s;
      } catch (e) {
        void vscode.window.showErrorMessage(`Subnet Search: ${e instanceof Error ? e.message : e}`);
        return undefined;
      }
    }),
    vscode.languages.registerCodeLensProvider(configFiles, new ConfigLens()),
    vscode.languages.registerInlayHintsProvider(configFiles, hints),
    vscode.languages.registerHoverProvider(configFiles, hints),
    modelStatusBar(cli, output),
  );

  const job = interruptedJob(context.workspaceState);
  if (job) {
    void vscode.window
      .showInformationMessage(
        `Subnet Search: compressing ${job.model} was interrupted. Resume from its checkpoint?`,
        'Resume',
        'Discard',
      )
      .then(async (choice) => {
        if (choice === 'Resume') {
          const panel = await CompressPanel.show(job.model, ctx);
          await panel.run([...job.args.filter((a) => a !== '--resume'), '--resume'], job.out);
        } else if (choice === 'Discard') await forgetJob(context.workspaceState);
      });
  }
  return { layerTable };
}

export function deactivate(): void {}
