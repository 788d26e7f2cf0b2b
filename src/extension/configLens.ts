import * as vscode from 'vscode';
import { modelBeside } from './modelInfo';

/** "Compress this model" at the top of a config.json / genai_config.json that sits beside an .onnx. */
export class ConfigLens implements vscode.CodeLensProvider {
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const model = modelBeside(doc.uri.fsPath);
    if (!model) return [];
    const top = new vscode.Range(0, 0, 0, 0);
    return [
      new vscode.CodeLens(top, {
        title: '$(zap) Compress this model',
        command: 'subnetSearch.compressModel',
        arguments: [vscode.Uri.file(model)],
      }),
      new vscode.CodeLens(top, {
        title: 'Inspect',
        command: 'subnetSearch.inspectModel',
        arguments: [vscode.Uri.file(model)],
      }),
    ];
  }
}
