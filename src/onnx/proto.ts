// The ONNX protobuf schema comes from `onnx-proto` (protobufjs static code); this file adds the few helpers
// every reader and writer needs.
import { onnx } from 'onnx-proto';

export { onnx };
export const DataType = onnx.TensorProto.DataType;
export type DataType = onnx.TensorProto.DataType;

/** protobufjs hands int64 fields out as Long or number depending on size. */
export function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export const dataTypeName: Record<number, string> = Object.fromEntries(
  Object.entries(onnx.TensorProto.DataType)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);

/** TensorProto data types newer than the onnx-proto schema this project reads with (onnx 1.16's 4-bit types). */
export const DataType4Bit = { UINT4: 21, INT4: 22 } as const;

/** Bytes per element, for the types a decoder's weights may use. Sub-byte types return fractions. */
export function bytesPerElement(t: number): number {
  switch (t) {
    case DataType.DOUBLE:
    case DataType.INT64:
    case DataType.UINT64:
      return 8;
    case DataType.FLOAT:
    case DataType.INT32:
    case DataType.UINT32:
      return 4;
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
    case DataType.INT16:
    case DataType.UINT16:
      return 2;
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.BOOL:
      return 1;
    case DataType4Bit.INT4:
    case DataType4Bit.UINT4:
      return 0.5;
    default:
      return 4;
  }
}
