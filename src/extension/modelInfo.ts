// Per-model summaries for the editor features, computed by `inspect` in a child process and cached by mtime.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as vscode from 'vscode';
import type { ModelSummary } from '../job/inspect';
import { runCliJson } from './childJob';

const cache = new Map<string, { mtime: number; summary: Promise<ModelSummary | undefined> }>();

/** The `.onnx` beside a config file (model.onnx preferred), if any. */
export function modelBeside(configFile: string): string | undefined {
  const dir = path.dirname(configFile);
  if (!['config.json', 'genai_config.json'].includes(path.basename(configFile))) return undefined;
  const onnx = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.onnx'))
    .sort((a, b) => (a === 'model.onnx' ? -1 : b === 'model.onnx' ? 1 : a.localeCompare(b)));
  return onnx.length ? path.join(dir, onnx[0]) : undefined;
}

export function modelSummary(cli: string, model: string, log: vscode.OutputChannel): Promise<ModelSummary | undefined> {
  const mtime = fs.statSync(model).mtimeMs;
  const hit = cache.get(model);
  if (hit && hit.mtime === mtime) return hit.summary;
  const summary = runCliJson<ModelSummary>(cli, ['inspect', model, '--json'], log).catch(() => undefined);
  cache.set(model, { mtime, summary });
  return summary;
}
