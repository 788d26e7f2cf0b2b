const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const vscode = require('vscode');

const ID = 'subnet-search.subnet-search';
const root = path.resolve(__dirname, '..', '..');

function demoCopy() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-suite-'));
  for (const f of fs.readdirSync(path.join(root, 'media', 'demo', 'stories260K')))
    fs.copyFileSync(path.join(root, 'media', 'demo', 'stories260K', f), path.join(dir, f));
  return dir;
}

suite('Subnet Search extension', () => {
  let api;
  suiteSetup(async () => {
    api = await vscode.extensions.getExtension(ID).activate();
  });

  test('contributes its commands', async () => {
    const commands = await vscode.commands.getCommands(true);
    for (const c of ['subnetSearch.compressModel', 'subnetSearch.inspectModel']) assert.ok(commands.includes(c), c);
  });

  test('Inspect Model reads the demo model through the CLI child process', async () => {
    const s = await vscode.commands.executeCommand(
      'subnetSearch.inspectModel',
      vscode.Uri.file(path.join(demoCopy(), 'model.onnx')),
    );
    assert.strictEqual(s.config.layers, 5);
    assert.strictEqual(s.totals.params, 292800);
    assert.deepStrictEqual(
      s.layers.map((l) => l.heads),
      [8, 8, 8, 8, 8],
    );
  });

  test('config.json beside an .onnx gets the Compress CodeLens, inlay hints and a per-layer hover', async () => {
    const dir = demoCopy();
    const doc = await vscode.workspace.openTextDocument(path.join(dir, 'config.json'));
    await vscode.window.showTextDocument(doc);
    const lenses = await vscode.commands.executeCommand('vscode.executeCodeLensProvider', doc.uri);
    assert.ok(
      lenses.some((l) => l.command && l.command.command === 'subnetSearch.compressModel'),
      'Compress this model lens',
    );
    const hints = await vscode.commands.executeCommand(
      'vscode.executeInlayHintProvider',
      doc.uri,
      new vscode.Range(0, 0, doc.lineCount, 0),
    );
    const labels = hints.map((h) => (typeof h.label === 'string' ? h.label : h.label.map((p) => p.value).join('')));
    assert.ok(
      labels.some((l) => /5 layers, 292\.8K params/.test(l)),
      labels.join(' | '),
    );
    assert.ok(
      labels.some((l) => /MLP: 172 in every layer/.test(l)),
      labels.join(' | '),
    );
    const line = doc
      .getText()
      .split('\n')
      .findIndex((l) => l.includes('num_hidden_layers'));
    const hovers = await vscode.commands.executeCommand(
      'vscode.executeHoverProvider',
      doc.uri,
      new vscode.Position(line, 5),
    );
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(text, /\| 4 \| 8 \| 4 \| 8 \| 172 \| 45,440 \|/);
  });

  test("the API's per-layer table renders a model summary: one row per layer with its shape and parameters", async () => {
    const s = await vscode.commands.executeCommand(
      'subnetSearch.inspectModel',
      vscode.Uri.file(path.join(demoCopy(), 'model.onnx')),
    );
    const md = api.layerTable(s).value;
    assert.match(md, /^\*\*5 layers, 292,800 parameters, /);
    assert.deepStrictEqual(
      md.split('\n').filter((l) => /^\| \d+ \|/.test(l)),
      [0, 1, 2, 3, 4].map((i) => `| ${i} | 8 | 4 | 8 | 172 | 45,440 |`),
    );
  });
});
