import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx, toNumber } from './proto';
import { UserError } from '../util/errors';
import { resolvesInside } from './externalData';

/** A decoded ONNX model and where it lives (external data is resolved relative to `dir`). */
export interface OnnxFile {
  path: string;
  dir: string;
  model: onnx.ModelProto;
  /**
   * Where a decoded bytes field (a tensor's raw data) lies in the file, so that graphs reference weights kept
   * inside the `.onnx` where they lie, as they do external data; undefined for bytes from elsewhere.
   */
  offsetOf(bytes: Uint8Array): number | undefined;
}

/**
 * Reads and decodes an ONNX file. Tensors stored as external data stay on disk: they are read one at a time by
 * `readRawBytes` / `readFloatTensor` (tensorData.ts), so only the protobuf itself (at most 2 GB by the format's own limit) is held in memory.
 */
export function readOnnxFile(file: string): OnnxFile {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new UserError(`${file}: file not found`);
  if (!fs.statSync(abs).isFile()) {
    const inside = path.join(file, 'model.onnx');
    throw new UserError(
      fs.existsSync(inside) ? `${file}: a folder; give the model file in it, ${inside}` : `${file}: not a file`,
    );
  }
  const read = fs.readFileSync(abs);
  // A plain Uint8Array view, not the Buffer: protobufjs then hands out bytes fields (raw tensor data) as Uint8Array
  // views and never takes its Buffer code path (Buffer.prototype.slice, whose `.slice()` on such a view does not
  // copy: an fp16 tensor at an odd offset was read from the wrong bytes).
  const bytes = new Uint8Array(read.buffer, read.byteOffset, read.byteLength);
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new UserError(
      `${path.basename(file)}: not a readable ONNX model (protobuf decoding failed: ${why}). ` +
        `The file may be truncated (${bytes.length} bytes) or not an ONNX file at all.`,
    );
  }
  if (toNumber(model.irVersion) <= 0 || !model.graph || (model.graph.node ?? []).length === 0) {
    throw new UserError(
      `${path.basename(file)}: not an ONNX model (no IR version or no graph nodes found). ` +
        `The file may be truncated or not an ONNX file at all.`,
    );
  }
  // A model file linked from elsewhere is not referenced: ONNX Runtime refuses data whose real path leaves the folder.
  const inPlace = resolvesInside(path.dirname(abs), abs);
  const offsetOf = (v: Uint8Array) =>
    inPlace &&
    v.buffer === bytes.buffer &&
    v.byteOffset >= bytes.byteOffset &&
    v.byteOffset + v.length <= bytes.byteOffset + bytes.length
      ? v.byteOffset - bytes.byteOffset
      : undefined;
  return { path: abs, dir: path.dirname(abs), model, offsetOf };
}

/** Bytes of a model on disk: the `.onnx` and its `<name>_data` external-data file where there is one. */
export function modelFileBytes(file: string): number {
  const data = `${file}_data`;
  return fs.statSync(file).size + (fs.existsSync(data) ? fs.statSync(data).size : 0);
}
