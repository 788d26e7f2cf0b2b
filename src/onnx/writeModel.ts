import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx, DataType } from './proto';

export type TensorValues = Float32Array | BigInt64Array | Int32Array | Uint8Array;

/** An initializer to write. `values` may be a thunk so that large weights are produced one at a time. */
export interface TensorSpec {
  name: string;
  dims: number[];
  dataType: DataType;
  values: TensorValues | (() => TensorValues);
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

function estimatedBytes(t: TensorSpec): number {
  const per = t.dataType === DataType.INT64 || t.dataType === DataType.DOUBLE ? 8 : t.dataType === DataType.UINT8 ? 1 : 4;
  return t.dims.reduce((a, b) => a * b, 1) * per;
}

function inlineTensor(t: TensorSpec, v: TensorValues): onnx.ITensorProto {
  return { name: t.name, dims: t.dims, dataType: t.dataType, rawData: bytesOf(v) };
}

function withInitializers(model: onnx.IModelProto, init: onnx.ITensorProto[]): onnx.IModelProto {
  return { ...model, graph: { ...model.graph, initializer: [...(model.graph?.initializer ?? []), ...init] } };
}

/** The whole model as one protobuf buffer, every tensor inline (for in-memory sessions of small models). */
export function modelToBuffer(model: onnx.IModelProto, tensors: TensorSpec[]): Uint8Array {
  return onnx.ModelProto.encode(withInitializers(model, tensors.map((t) => inlineTensor(t, valuesOf(t))))).finish();
}

/**
 * Writes `model` with `tensors` as its initializers. Files are written under temporary names and renamed at
 * the end, the `.onnx` last, so a crash never leaves a `model.onnx` that points at missing or partial data.
 */
export function writeModelFile(model: onnx.IModelProto, tensors: TensorSpec[], modelPath: string, opts: WriteOptions = {}): WrittenModel {
  const mode = opts.externalData ?? 'auto';
  const total = tensors.reduce((a, t) => a + estimatedBytes(t), 0);
  const external = mode === 'always' || (mode === 'auto' && total > (opts.externalThresholdBytes ?? DEFAULT_EXTERNAL_THRESHOLD));
  const tmpModel = `${modelPath}.tmp-${process.pid}`;
  const init: onnx.ITensorProto[] = [];
  let dataPath: string | undefined;
  if (external) {
    dataPath = `${modelPath}_data`;
    const location = path.basename(dataPath);
    const tmpData = `${dataPath}.tmp-${process.pid}`;
    const fd = fs.openSync(tmpData, 'w');
    try {
      let offset = 0;
      for (const t of tensors) {
        const v = valuesOf(t);
        if (v.byteLength <= INLINE_MAX_BYTES) {
          init.push(inlineTensor(t, v));
          continue;
        }
        const pad = (ALIGN - (offset % ALIGN)) % ALIGN;
        if (pad) fs.writeSync(fd, new Uint8Array(pad), 0, pad, offset);
        offset += pad;
        fs.writeSync(fd, bytesOf(v), 0, v.byteLength, offset);
        init.push({
          name: t.name,
          dims: t.dims,
          dataType: t.dataType,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: location },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(v.byteLength) },
          ],
        });
        offset += v.byteLength;
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.writeFileSync(tmpModel, onnx.ModelProto.encode(withInitializers(model, init)).finish());
    fs.renameSync(tmpData, dataPath);
  } else {
    fs.writeFileSync(tmpModel, modelToBuffer(model, tensors));
  }
  fs.renameSync(tmpModel, modelPath);
  return { modelPath, dataPath, totalBytes: total };
}
