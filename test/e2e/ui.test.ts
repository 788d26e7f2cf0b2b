// The user's view in a real VS Code in a real browser: right-click the demo model, Compress Model with the quick
// preset, wait for the report in the webview, check its numbers against report.json, take screenshots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page, FrameLocator } from 'playwright-core';
import { repoRoot, tempDir } from '../fixtures';
import { e2eSkip, launchChromium, startCodeServer } from './codeServer';

const artifacts = path.join(repoRoot, 'test', 'artifacts');

function demoWorkspace(): string {
  const ws = path.join(tempDir('subnet-search-ws-'), 'workspace');
  fs.mkdirSync(path.join(ws, 'stories260K'), { recursive: true });
  for (const f of fs.readdirSync(path.join(repoRoot, 'media', 'demo', 'stories260K')))
    fs.copyFileSync(path.join(repoRoot, 'media', 'demo', 'stories260K', f), path.join(ws, 'stories260K', f));
  return ws;
}

const webview = (page: Page): FrameLocator =>
  page.locator('iframe.webview.ready').last().contentFrame().locator('iframe#active-frame').contentFrame();

for (const theme of ['Default Dark Modern', 'Default Light Modern']) {
  test(
    `UI (${theme}): right-click → Compress Model → report in the webview matches report.json`,
    { skip: e2eSkip(), timeout: 600_000 },
    async () => {
      const ws = demoWorkspace();
      const server = await startCodeServer({ workspace: ws, installExtension: true, theme });
      const browser = await launchChromium();
      const tag = theme.includes('Light') ? 'light' : 'dark';
      fs.mkdirSync(artifacts, { recursive: true });
      try {
        const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
        await page.goto(`http://127.0.0.1:${server.port}/?folder=${encodeURIComponent(ws)}`);
        const row = (name: string) => page.locator('.explorer-folders-view .monaco-list-row', { hasText: name });
        await row('stories260K').first().waitFor({ timeout: 120_000 });
        if (!(await row('model.onnx').count())) await row('stories260K').first().click();
        await row('model.onnx').waitFor();
        // Retry: the first context menu right after start-up may not have the extension's contributions yet.
        for (let i = 0; ; i++) {
          await row('model.onnx').click({ button: 'right' });
          const item = page.locator('.context-view .action-item', { hasText: 'Compress Model' });
          if (
            await item.waitFor({ timeout: 3000 }).then(
              () => true,
              () => false,
            )
          ) {
            await item.hover();
            await item.click({ delay: 100 });
            break;
          }
          await page.keyboard.press('Escape');
          if (i > 10) throw new Error('Compress Model is not in the explorer context menu');
        }
        const view = webview(page);
        await view.locator('#run').waitFor({ timeout: 120_000 });
        await page.screenshot({ path: path.join(artifacts, `form-${tag}.png`) });
        // The light run also sparsifies 50 % with OWL's per-layer profile: the report then shows its heatmap.
        const profiled = tag === 'light';
        if (profiled) {
          await view.locator('#sparsity').evaluate((e) => ((e as unknown as { value: string }).value = '0.5'));
          await view.locator('#profile').evaluate((e) => ((e as unknown as { value: string }).value = 'owl'));
        }
        await view.locator('#run').click();
        await view.locator('#report').waitFor({ timeout: 480_000 });
        await view.locator('#mlpHeatmap').scrollIntoViewIfNeeded();
        await page.screenshot({ path: path.join(artifacts, `heatmaps-${tag}.png`) });
        await view.locator('#report').scrollIntoViewIfNeeded();
        await page.screenshot({ path: path.join(artifacts, `report-${tag}.png`) });
        if (profiled) {
          await view.locator('#profileHeatmap').scrollIntoViewIfNeeded();
          await page.screenshot({ path: path.join(artifacts, `profile-${tag}.png`) });
        }

        const outs = fs
          .readdirSync(path.join(ws, 'stories260K'))
          .filter((f) => f.startsWith('stories260K-compressed') && !f.endsWith('.partial'));
        assert.equal(outs.length, 1, `one output folder: ${outs}`);
        const out = path.join(ws, 'stories260K', outs[0]);
        for (const f of [
          'model.onnx',
          'report.json',
          'report.md',
          'config.json',
          'genai_config.json',
          'tokenizer.json',
        ])
          assert.ok(fs.existsSync(path.join(out, f)), f);
        const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
        if (profiled) {
          assert.equal(report.profile.kind, 'owl');
          assert.ok(Math.abs(report.profile.average - 0.5) < 1e-9, `average ${report.profile.average}`);
          assert.match(
            (await view.locator('.profile h3').textContent()) ?? '',
            /Sparsity per linear \(OWL, average 50\.0%\)/,
          );
        }
        const cell = async (metric: string) =>
          (await view.locator(`tr[data-metric="${metric}"] td.after`).textContent())?.trim();
        assert.equal(await cell('parameters'), String(report.params.after));
        assert.equal(await cell('perplexity'), report.ppl.exported.toFixed(3));
        assert.equal(await cell('KV'), `${report.kvCacheBytesPerToken.after} B`);
        assert.equal(await cell('file'), `${(report.fileBytes.after / 2 ** 20).toFixed(2)} MiB`);
      } finally {
        await browser.close();
        await server.stop();
      }
    },
  );
}
