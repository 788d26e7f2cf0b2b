// A real VS Code (code-server 4.100.3) with only our extension, on 127.0.0.1, fresh profile, no auth
// (shared/docs/vscode-e2e.md §4). Killed as a process group so no extension host outlives a test.
// The tools are installed by e2e/setup.sh, the first step of `npm test`; playwright-core is loaded from
// e2e/tools at run time, and its types come from there too (tsconfig `paths`; a stub when it is absent).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as Playwright from 'playwright-core';
import { repoRoot } from '../fixtures';

const toolsDir = path.join(repoRoot, 'e2e', 'tools');
export const codeServerBin = path.join(toolsDir, 'node_modules', '.bin', 'code-server');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const isCI = process.env.CI === 'true' || process.env.CI === '1';

/** What the end-to-end tests lack on this machine; empty when they can run. */
export function e2eMissing(): string[] {
  const missing: string[] = [];
  if (!fs.existsSync(chromiumPath)) missing.push(`Chromium (${chromiumPath})`);
  if (!fs.existsSync(codeServerBin)) missing.push('code-server');
  if (!fs.existsSync(path.join(toolsDir, 'node_modules', 'playwright-core', 'package.json')))
    missing.push('playwright-core');
  return missing;
}

const howToInstall =
  'run `npm test` as root on Debian, or `sudo apt-get install chromium libkrb5-dev ripgrep && e2e/tools/install.sh`';

/** node:test's `skip` option: the reason when the tools are missing; never under CI, where the test then fails. */
export function e2eSkip(): string | false {
  const missing = e2eMissing();
  return missing.length > 0 && !isCI && `NOT RUN: ${missing.join(', ')} not installed; ${howToInstall}`;
}

function assertE2eTools(): void {
  const missing = e2eMissing();
  if (missing.length)
    throw new Error(`end-to-end tools missing (CI must not skip these tests): ${missing.join(', ')}; ${howToInstall}`);
}

export function launchChromium(): Promise<Playwright.Browser> {
  assertE2eTools();
  const { chromium } = createRequire(path.join(toolsDir, 'package.json'))('playwright-core') as typeof Playwright;
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: BROWSER_ARGS });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface CodeServer {
  port: number;
  workspace: string;
  scratch: string;
  stop(): Promise<void>;
}

export async function startCodeServer(o: {
  workspace: string;
  installExtension: boolean;
  theme?: string;
}): Promise<CodeServer> {
  assertE2eTools();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-e2e-'));
  const port = await freePort();
  fs.writeFileSync(path.join(scratch, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  fs.mkdirSync(path.join(scratch, 'ud', 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(scratch, 'ud', 'User', 'settings.json'),
    JSON.stringify({
      'workbench.startupEditor': 'none',
      'security.workspace.trust.enabled': false,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'workbench.tips.enabled': false,
      'chat.disableAIFeatures': true,
      'workbench.secondarySideBar.defaultVisibility': 'hidden',
      'editor.inlayHints.enabled': 'on',
      ...(o.theme ? { 'workbench.colorTheme': o.theme } : {}),
    }),
  );
  const ext = path.join(scratch, 'ext');
  fs.mkdirSync(ext);
  if (o.installExtension) {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
    fs.symlinkSync(repoRoot, path.join(ext, `${pkg.publisher}.${pkg.name}-${pkg.version}`));
  }
  const xdg = (k: string) => path.join(scratch, 'xdg', k);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_CONFIG_HOME: xdg('config'),
    XDG_DATA_HOME: xdg('data'),
    XDG_CACHE_HOME: xdg('cache'),
  };
  delete env.PORT;
  const child: ChildProcess = spawn(
    codeServerBin,
    [
      '--config',
      path.join(scratch, 'config.yaml'),
      '--user-data-dir',
      path.join(scratch, 'ud'),
      '--extensions-dir',
      ext,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      o.workspace,
    ],
    { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout?.on('data', (b: Buffer) => (log += b));
  child.stderr?.on('data', (b: Buffer) => (log += b));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`code-server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    port,
    workspace: o.workspace,
    scratch,
    async stop() {
      for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
        try {
          process.kill(-child.pid!, sig);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
  };
}

export const BROWSER_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
