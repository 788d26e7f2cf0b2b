// VS Code glue only: commands that run the engine's CLI bundle in a child process, so a native crash or an
// out-of-memory in ONNX Runtime can never take the extension host down.
import * as vscode from 'vscode';
import { runCliJson } from './childJob';
import type { ModelSummary } from '../job/inspect';

async function pickModel(uri?: vscode.Uri): Promise<vscode.Uri | undefined> {
  if (uri?.fsPath.endsWith('.onnx')) return uri;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (active?.fsPath.endsWith('.onnx')) return active;
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'ONNX model': ['onnx'] }, openLabel: 'Select model' });
  return picked?.[0];
}

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Subnet Search');
  const cli = vscode.Uri.joinPath(context.extensionUri, 'dist', 'cli.js').fsPath;

  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('subnetSearch.inspectModel', async (uri?: vscode.Uri) => {
      const model = await pickModel(uri);
      if (!model) return undefined;
      try {
        const s = await runCliJson<ModelSummary>(cli, ['inspect', model.fsPath, '--json'], output);
        output.appendLine(`${model.fsPath}: ${s.config.layers} layers, ${s.totals.params} parameters`);
        for (const l of s.layers) output.appendLine(`  layer ${l.index}: ${l.heads} heads, ${l.kvHeads} KV heads × ${l.headDim}, MLP ${l.intermediate}, ${l.params} params`);
        output.show(true);
        return s;
      } catch (e) {
        void vscode.window.showErrorMessage(`Subnet Search: ${e instanceof Error ? e.message : e}`);
        return undefined;
      }
    }),
    vscode.commands.registerCommand('subnetSearch.compressModel', async (uri?: vscode.Uri) => {
      const model = await pickModel(uri);
      if (!model) return;
      void vscode.window.showInformationMessage('Subnet Search: compression is not available in this version yet; use Inspect Model.');
    }),
  );
}

export function deactivate(): void {}
