import type { Decoder } from '../model/decoder';
import { buildDecoderGraph, type BuildOptions } from '../build/decoderGraph';
import { modelToBuffer, writeModelFile } from '../onnx/writeModel';
import { createSession, type Session, type SessionOptions } from './session';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Below this the graph is handed to ONNX Runtime as one buffer; above, it goes through a temporary file with external data. */
const IN_MEMORY_LIMIT = 1 << 30;

/** A session over a graph we emit for `d` (dense, masked, or with activation outputs). */
export async function decoderSession(d: Decoder, build: BuildOptions, o: SessionOptions): Promise<Session> {
  const built = buildDecoderGraph(d, build);
  const bytes = built.tensors.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1) * 4, 0);
  if (bytes < IN_MEMORY_LIMIT) return createSession(modelToBuffer(built.model, built.tensors), o);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-graph-'));
  try {
    const file = path.join(dir, 'model.onnx');
    writeModelFile(built.model, built.tensors, file, { externalData: 'always' });
    return await createSession(file, o);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
