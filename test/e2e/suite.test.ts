// The extension-host Mocha suite (test/suite) inside code-server's real extension host, through the workbench's
// `payload` (extensionDevelopmentPath + extensionTestsPath); the exit code comes back via codeAutomationExit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as util from 'node:util';
import { repoRoot, tempDir } from '../fixtures';
import { e2eSkip, launchChromium, startCodeServer } from './codeServer';

test(
  'extension-host suite passes inside code-server (VS Code 1.100.3)',
  { skip: e2eSkip(), timeout: 300_000 },
  async () => {
    const server = await startCodeServer({ workspace: tempDir('subnet-search-suite-ws-'), installExtension: false });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const exit = new Promise<number>(
        (resolve) => void page.exposeFunction('codeAutomationExit', (code: number) => resolve(code)),
      );
      const lines: string[] = [];
      await page.exposeFunction('codeAutomationLog', (_type: string, args: unknown[]) => {
        const line = util.format(...args);
        lines.push(line);
        console.log(`  [extension host] ${line}`);
      });
      const auth = `127.0.0.1:${server.port}`;
      const payload = JSON.stringify([
        ['extensionDevelopmentPath', `vscode-remote://${auth}${repoRoot}`],
        ['extensionTestsPath', `vscode-remote://${auth}${repoRoot}/test/suite/index`],
      ]);
      await page.goto(
        `http://${auth}/?folder=${encodeURIComponent(server.workspace)}&payload=${encodeURIComponent(payload)}`,
      );
      const code = await exit;
      const passing = lines.map((l) => /(\d+) passing/.exec(l)).find(Boolean);
      assert.equal(code, 0, lines.join('\n'));
      assert.ok(passing && Number(passing[1]) >= 4, 'all suite tests ran');
    } finally {
      await browser.close();
      await server.stop();
    }
  },
);
