import * as path from 'node:path';
import * as vscode from 'vscode';
import { modelBeside, modelSummary } from './modelInfo';

/** The model's size and parameter count while its config (or the .onnx) is the active editor. */
export function modelStatusBar(cli: string, log: vscode.OutputChannel): vscode.Disposable {
  const item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  item.command = 'subnetSearch.inspectModel';
  const update = async () => {
    const file = vscode.window.activeTextEditor?.document.uri.fsPath;
    const model = file?.endsWith('.onnx') ? file : file && modelBeside(file);
    if (!model) return item.hide();
    const s = await modelSummary(cli, model, log);
    if (!s) return item.hide();
    item.text = `$(circuit-board) ${(s.totals.params / 1e6).toFixed(2)}M params · ${(s.fileBytes / 2 ** 20).toFixed(1)} MiB`;
    item.tooltip = `${path.basename(model)}: ${s.layers.length} layers, ${s.totals.params.toLocaleString()} parameters`;
    item.show();
  };
  void update();
  return vscode.Disposable.from(
    item,
    vscode.window.onDidChangeActiveTextEditor(() => void update()),
  );
}
