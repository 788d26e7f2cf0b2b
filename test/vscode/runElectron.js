// `npm run test:vscode`: the same Mocha suite in desktop VS Code via @vscode/test-electron, for machines that can
// download VS Code (not CI here: it has no network beyond the npm registry).
const path = require('node:path');
const { runTests } = require('@vscode/test-electron');

const root = path.resolve(__dirname, '..', '..');
runTests({
  version: '1.100.3',
  extensionDevelopmentPath: root,
  extensionTestsPath: path.join(root, 'test', 'suite', 'index'),
}).catch((e) => {
  const msg = String(e && e.message ? e.message : e);
  if (/ENOTFOUND|getaddrinfo|fetch failed|ECONNREFUSED/.test(msg)) {
    console.error(
      `test:vscode: cannot download VS Code 1.100.3 (${msg}); this machine has no access to update.code.visualstudio.com. CI runs the same suite in code-server (npm test).`,
    );
  } else console.error(`test:vscode: ${msg}`);
  process.exit(1);
});
