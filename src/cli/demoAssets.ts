import * as fs from 'node:fs';
import * as path from 'node:path';

/** The package root, from the bundle in `dist/` or from the sources in `src/cli/` (tests). */
function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

export const demoModel = () => path.join(packageRoot(), 'media', 'demo', 'stories260K', 'model.onnx');
export const demoText = () => path.join(packageRoot(), 'media', 'demo', 'tinystories_sample.txt');
