import { onnx, toNumber } from '../../onnx/proto';

export interface Use {
  node: onnx.INodeProto;
  input: number;
}

/** Name lookups over a graph: initializers by name, and which nodes consume each value. */
export class GraphIndex {
  readonly initializers = new Map<string, onnx.ITensorProto>();
  readonly uses = new Map<string, Use[]>();
  readonly producers = new Map<string, onnx.INodeProto>();

  constructor(readonly graph: onnx.IGraphProto) {
    for (const t of graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
    for (const node of graph.node ?? []) {
      (node.input ?? []).forEach((name, input) => {
        const list = this.uses.get(name) ?? [];
        list.push({ node, input });
        this.uses.set(name, list);
      });
      for (const o of node.output ?? []) this.producers.set(o, node);
    }
  }

  usesOf(name: string): Use[] {
    return this.uses.get(name) ?? [];
  }

  /** Concrete dims of a graph input (`undefined` for symbolic ones), or undefined if there is no such input. */
  inputDims(name: string): (number | undefined)[] | undefined {
    const vi = (this.graph.input ?? []).find((i) => i.name === name);
    const dims = vi?.type?.tensorType?.shape?.dim;
    if (!dims) return undefined;
    return dims.map((d) =>
      d.dimParam ? undefined : d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : undefined,
    );
  }

  opTypes(): Map<string, number> {
    const m = new Map<string, number>();
    for (const n of this.graph.node ?? []) {
      const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : (n.opType ?? '');
      m.set(key, (m.get(key) ?? 0) + 1);
    }
    return m;
  }
}

export function intAttr(node: onnx.INodeProto, name: string, fallback: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a ? toNumber(a.i) : fallback;
}

export function intsAttr(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  return a ? (a.ints ?? []).map((v) => toNumber(v)) : undefined;
}
