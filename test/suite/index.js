// The extension-host test suite: run by @vscode/test-electron in desktop VS Code (npm run test:vscode) and by
// test/e2e/suite.test.ts inside code-server's extension host. Plain JS: VS Code loads it by path.
const path = require('node:path');
const fs = require('node:fs');
const Mocha = require('mocha');

function run() {
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 120000 });
  for (const f of fs.readdirSync(__dirname)) if (f.endsWith('.test.js')) mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} tests failed`)) : resolve()));
  });
}

module.exports = { run };
