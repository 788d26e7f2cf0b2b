// design.md "Layers": data flows one way, files → model → engine → job → UI. Every relative import in src/ must go
// to its own folder or to a lower layer, and only src/extension may import vscode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../fixtures';

const RANK: Record<string, number> = {
  util: 0,
  onnx: 1,
  text: 1,
  model: 2,
  graph: 3,
  runtime: 4,
  linalg: 5,
  compress: 6,
  job: 7,
  cli: 8,
  extension: 9,
};
const src = path.join(repoRoot, 'src');

const files = (dir: string): string[] =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    );
const layerOf = (file: string) => path.relative(src, file).split(path.sep)[0].replace(/\.ts$/, '');

test('imports run down the layers; only src/extension imports vscode', () => {
  const wrong: string[] = [];
  for (const file of files(src)) {
    const from = layerOf(file);
    assert.ok(
      from in RANK,
      `${path.relative(repoRoot, file)}: folder ${from} has no layer in this test (add it to RANK, as design.md orders it)`,
    );
    const text = fs.readFileSync(file, 'utf8');
    for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      if (spec === 'vscode' && from !== 'extension') wrong.push(`${path.relative(repoRoot, file)} imports vscode`);
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(src + path.sep)) {
        if (from !== 'extension') wrong.push(`${path.relative(repoRoot, file)} imports ${spec} outside src/`);
        continue;
      }
      const to = layerOf(target);
      if (to !== from && RANK[to] > RANK[from])
        wrong.push(`${path.relative(repoRoot, file)} (${from}) imports ${spec} (${to}, a higher layer)`);
    }
  }
  assert.deepEqual(wrong, []);
});
