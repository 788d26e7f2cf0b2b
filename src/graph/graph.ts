// A small ONNX graph emitter: unique value names, constants, initializers, and the model proto around them.
import { onnx, DataType } from '../onnx/proto';
import type { InPlaceBytes, TensorSpec } from '../onnx/writeModel';

export const OPSET = 17;
/** ONNX IR version 8 (onnx 1.10 and later), what opset 17 needs and ONNX Runtime 1.x reads. */
const IR_VERSION = onnx.Version.IR_VERSION;
/** The `com.microsoft` contrib domain (MatMulNBits, Inverse) at its only version. */
const CONTRIB_OPSET = 1;

type Attr = number | number[] | string | { float: number } | { floats: number[] };
export type Dim = number | string;

function attribute(name: string, v: Attr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.FLOATS, floats: v.floats };
}

function valueInfo(name: string, elemType: DataType, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  readonly tensors: TensorSpec[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;
  private usesContrib = false;

  /** Emits one node and returns its output's name; `name` prefixes it to keep graphs readable. */
  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, name = type, domain = ''): string {
    const id = this.counter++;
    const output = `${name}_${id}`;
    if (domain === 'com.microsoft') this.usesContrib = true;
    this.nodes.push({
      opType: type,
      domain,
      name: `${name}_${id}`,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }

  /**
   * Gives the value `from` the name `to` (graph outputs have standard names). The producing node's output and its
   * consumers are renamed in place: an Identity would copy the tensor, and for `present.*` that is the whole KV
   * cache on every decode step.
   */
  rename(from: string, to: string): string {
    const producer = this.nodes.find((n) => n.output?.includes(from));
    const isInput = this.inputs.some((i) => i.name === from) || this.tensors.some((t) => t.name === from);
    if (!producer || isInput || this.outputs.some((o) => o.name === from)) {
      this.nodes.push({ opType: 'Identity', name: `${to}_identity`, input: [from], output: [to] });
      return to;
    }
    producer.output = producer.output!.map((o) => (o === from ? to : o));
    for (const n of this.nodes) n.input = n.input?.map((i) => (i === from ? to : i));
    return to;
  }

  input(name: string, elemType: DataType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(value: string, name: string, elemType: DataType, dims: Dim[]): void {
    this.rename(value, name);
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  initializer(
    name: string,
    dims: number[],
    values: TensorSpec['values'],
    dataType: DataType = DataType.FLOAT,
    inPlace?: InPlaceBytes,
  ): string {
    this.tensors.push({ name, dims, dataType, values, ...(inPlace ? { inPlace } : {}) });
    return name;
  }

  /** An int64 constant, shared between all users of the same values. */
  ints(values: number[], scalar = false): string {
    const key = `i64:${scalar}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.initializer(
        `const_i64_${this.constants.size}`,
        scalar ? [] : [values.length],
        BigInt64Array.from(values.map(BigInt)),
        DataType.INT64,
      );
      this.constants.set(key, name);
    }
    return name;
  }

  floats(values: number[], scalar = false): string {
    const key = `f32:${scalar}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.initializer(
        `const_f32_${this.constants.size}`,
        scalar ? [] : [values.length],
        Float32Array.from(values),
      );
      this.constants.set(key, name);
    }
    return name;
  }

  model(graphName: string, docString: string): onnx.IModelProto {
    const opsetImport: onnx.IOperatorSetIdProto[] = [{ domain: '', version: OPSET }];
    if (this.usesContrib) opsetImport.push({ domain: 'com.microsoft', version: CONTRIB_OPSET });
    return {
      irVersion: IR_VERSION,
      producerName: 'subnet-search',
      producerVersion: '0.1.0',
      opsetImport,
      docString,
      graph: { name: graphName, node: this.nodes, input: this.inputs, output: this.outputs, initializer: [] },
    };
  }
}
