import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx, DataType, bytesPerElement } from './proto';
import { environmentError } from '../util/errors';
import { pathInside } from './externalData';

export type TensorValues = Float32Array | BigInt64Array | Int32Array | Uint8Array;

/** A byte range of an external-data file that already holds a tensor's values. */
export interface InPlaceBytes {
  file: string;
  offset: number;
  length: number;
}

/** An initializer to write. `values` may be a thunk so that large weights are produced one at a time. */
export interface TensorSpec {
  name: string;
  dims: number[];
  dataType: DataType;
  values: TensorValues | (() => TensorValues);
  /** Where the values already lie: referenced there by in-memory sessions, copied from there into written files. */
  inPlace?: InPlaceBytes;
}

export interface WriteOptions {
  /** `auto` moves weights to `<model>.onnx_data` when the initializers total more than `externalThresholdBytes`. */
  externalData?: 'auto' | 'always' | 'never';
  externalThresholdBytes?: number;
}

export interface WrittenModel {
  modelPath: string;
  dataPath?: string;
  totalBytes: number;
}

/** Kept well below protobuf's 2 GiB message limit so the graph itself always fits. */
const DEFAULT_EXTERNAL_THRESHOLD = 1 << 30;
/** Small tensors (shapes, norms' scalars) stay inline like the standard exporters do. */
const INLINE_MAX_BYTES = 1024;
const ALIGN = 64;

function valuesOf(t: TensorSpec): TensorValues {
  return typeof t.values === 'function' ? t.values() : t.values;
}

function bytesOf(v: TensorValues): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export function estimatedBytes(t: TensorSpec): number {
  return t.dims.reduce((a, b) => a * b, 1) * bytesPerElement(t.dataType);
}

export const referencedIn = (dir: string | undefined, t: TensorSpec) =>
  Boolean(dir && t.inPlace && pathInside(dir, t.inPlace.file));

function externalTensor(t: TensorSpec, location: string, offset: number, length: number): onnx.ITensorProto {
  return {
    name: t.name,
    dims: t.dims,
    dataType: t.dataType,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  };
}

/** Copies `length` bytes from `src` at `from` to `fd` at `to`, in bounded chunks (tensors can exceed 2 GiB). */
function copyRange(src: string, from: number, length: number, fd: number, to: number): void {
  const chunk = Buffer.alloc(Math.min(length, 64 << 20));
  const sfd = fs.openSync(src, 'r');
  try {
    for (let done = 0; done < length;) {
      const n = fs.readSync(sfd, chunk, 0, Math.min(chunk.length, length - done), from + done);
      if (n <= 0) throw new Error(`${src}: ended before byte ${from + length}`);
      fs.writeSync(fd, chunk, 0, n, to + done);
      done += n;
    }
  } finally {
    fs.closeSync(sfd);
  }
}

function inlineTensor(t: TensorSpec, v: TensorValues): onnx.ITensorProto {
  return { name: t.name, dims: t.dims, dataType: t.dataType, rawData: bytesOf(v) };
}

function withInitializers(model: onnx.IModelProto, init: onnx.ITensorProto[]): onnx.IModelProto {
  return { ...model, graph: { ...model.graph, initializer: [...(model.graph?.initializer ?? []), ...init] } };
}

/**
 * The whole model as one protobuf buffer for an in-memory session: every tensor inline, except those whose values
 * lie in an external-data file under `referenceDir`, which are referenced there (the session resolves them with
 * `SessionOptions.externalDataDir`), so unchanged weights are never copied.
 */
export function modelToBuffer(model: onnx.IModelProto, tensors: TensorSpec[], referenceDir?: string): Uint8Array {
  const init = tensors.map((t) => {
    const location = referenceDir && t.inPlace ? pathInside(referenceDir, t.inPlace.file) : undefined;
    return location ? externalTensor(t, location, t.inPlace!.offset, t.inPlace!.length) : inlineTensor(t, valuesOf(t));
  });
  return onnx.ModelProto.encode(withInitializers(model, init)).finish();
}

/** Writes every tensor but the smallest into `tmpData` (aligned), returning the initializers that point there. */
function writeExternalData(tensors: TensorSpec[], tmpData: string, location: string): onnx.ITensorProto[] {
  const init: onnx.ITensorProto[] = [];
  const fd = fs.openSync(tmpData, 'w');
  try {
    let offset = 0;
    for (const t of tensors) {
      const length = t.inPlace?.length ?? estimatedBytes(t);
      const v = t.inPlace && length > INLINE_MAX_BYTES ? undefined : valuesOf(t);
      if (v && v.byteLength <= INLINE_MAX_BYTES) {
        init.push(inlineTensor(t, v));
        continue;
      }
      const pad = (ALIGN - (offset % ALIGN)) % ALIGN;
      if (pad) fs.writeSync(fd, new Uint8Array(pad), 0, pad, offset);
      offset += pad;
      if (v) fs.writeSync(fd, bytesOf(v), 0, v.byteLength, offset);
      else copyRange(t.inPlace!.file, t.inPlace!.offset, length, fd, offset);
      init.push(externalTensor(t, location, offset, v ? v.byteLength : length));
      offset += v ? v.byteLength : length;
    }
  } finally {
    fs.closeSync(fd);
  }
  return init;
}

/**
 * Writes `model` with `tensors` as its initializers. Files are written under temporary names and renamed at
 * the end, the `.onnx` last, so a crash never leaves a `model.onnx` that points at missing or partial data.
 */
export function writeModelFile(
  model: onnx.IModelProto,
  tensors: TensorSpec[],
  modelPath: string,
  opts: WriteOptions = {},
): WrittenModel {
  const mode = opts.externalData ?? 'auto';
  const total = tensors.reduce((a, t) => a + estimatedBytes(t), 0);
  const external =
    mode === 'always' || (mode === 'auto' && total > (opts.externalThresholdBytes ?? DEFAULT_EXTERNAL_THRESHOLD));
  const tmpModel = `${modelPath}.tmp-${process.pid}`;
  const dataPath = external ? `${modelPath}_data` : undefined;
  const tmpData = dataPath && `${dataPath}.tmp-${process.pid}`;
  try {
    if (dataPath && tmpData) {
      const init = writeExternalData(tensors, tmpData, path.basename(dataPath));
      fs.writeFileSync(tmpModel, onnx.ModelProto.encode(withInitializers(model, init)).finish());
      fs.renameSync(tmpData, dataPath);
    } else {
      fs.writeFileSync(tmpModel, modelToBuffer(model, tensors));
    }
    fs.renameSync(tmpModel, modelPath);
  } catch (e) {
    // A half-written temporary of model size is what keeps a full disk full.
    for (const f of [tmpModel, tmpData]) if (f) fs.rmSync(f, { force: true });
    throw environmentError(e, modelPath) ?? e;
  }
  return { modelPath, dataPath, totalBytes: total };
}
