// Every setting the extension reads, in one place.
import * as vscode from 'vscode';

export interface Settings {
  provider: string;
  ratio: number;
  calibration: string;
  outputLocation: string;
  threads: number;
}

export function settings(): Settings {
  const c = vscode.workspace.getConfiguration('subnetSearch');
  return {
    provider: c.get('executionProvider', 'auto'),
    ratio: c.get('defaultRatio', 0.8),
    calibration: c.get('calibrationFile', ''),
    outputLocation: c.get('outputLocation', ''),
    threads: c.get('threads', 0),
  };
}
