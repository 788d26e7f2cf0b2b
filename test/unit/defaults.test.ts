// One module of defaults and valid ranges (src/job/defaults.ts): the VS Code settings in package.json, the CLI's
// rules and the webview's form must agree with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../fixtures';
import { COMPRESS_METHODS, isRatio, PROVIDERS, RATIO, SETTINGS } from '../../src/job/defaults';
import { METHODS } from '../../src/compress/importance/scores';
import { ruleProblem } from '../../src/job/options';

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));

test("package.json's settings have exactly the defaults and ranges of SETTINGS", () => {
  const properties = pkg.contributes.configuration.properties as Record<string, Record<string, unknown>>;
  const declared = Object.fromEntries(
    Object.entries(properties).map(([key, { type: _t, description: _d, ...rest }]) => [
      key.replace(/^subnetSearch\./, ''),
      rest,
    ]),
  );
  const expected = Object.fromEntries(
    Object.entries(SETTINGS).map(([key, v]) => [key, { ...v, ...('enum' in v ? { enum: [...v.enum] } : {}) }]),
  );
  assert.deepEqual(declared, expected);
  assert.equal(properties['subnetSearch.defaultRatio'].exclusiveMinimum, 0);
  assert.equal(properties['subnetSearch.defaultRatio'].exclusiveMaximum, 1);
});

test('one valid range for the ratio: the rule the CLI and the jobs check, the settings and the form', () => {
  for (const r of [0.01, 0.5, 0.8, 0.99]) assert.equal(ruleProblem('ratio', r), undefined, String(r));
  for (const r of [0, 1, -0.1, 1.5, NaN])
    assert.match(ruleProblem('ratio', r) ?? '', /strictly between 0 and 1/, String(r));
  for (const r of [0.01, 0.99]) assert.ok(isRatio(r));
  assert.ok(isRatio(RATIO.default) && !isRatio(RATIO.exclusiveMinimum) && !isRatio(RATIO.exclusiveMaximum));
  assert.equal(SETTINGS.defaultRatio.default, RATIO.default);
});

test("the form's method list is the search and every baseline, each labelled; the webview hard-codes no list", () => {
  assert.deepEqual(
    COMPRESS_METHODS.map(([m]) => m),
    ['search', ...METHODS],
  );
  for (const [, label] of COMPRESS_METHODS) assert.ok(label.length > 0);
  const webview = fs.readFileSync(path.join(repoRoot, 'webview', 'main.ts'), 'utf8');
  for (const name of [...PROVIDERS.filter((p) => p !== 'auto'), ...METHODS])
    assert.doesNotMatch(webview, new RegExp(`'${name}'`), `webview/main.ts names '${name}'`);
});
