// Every setting the extension reads, in one place; defaults and ranges from job/defaults.ts (SETTINGS).
import * as vscode from 'vscode';
import { SETTINGS } from '../job/defaults';

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
    provider: c.get<string>('executionProvider', SETTINGS.executionProvider.default),
    ratio: c.get<number>('defaultRatio', SETTINGS.defaultRatio.default),
    calibration: c.get<string>('calibrationFile', SETTINGS.calibrationFile.default),
    outputLocation: c.get<string>('outputLocation', SETTINGS.outputLocation.default),
    threads: c.get<number>('threads', SETTINGS.threads.default),
  };
}
