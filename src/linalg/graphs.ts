// Small ONNX Runtime graphs for the heavy products of reformation, built once per process and shared.
import { DataType } from '../onnx/proto';
import { GraphBuilder } from '../build/graph';
import { modelToBuffer } from '../onnx/writeModel';
import { createSession, ort } from '../runtime/session';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function cached(name: string, build: (g: GraphBuilder) => void): Promise<ort.InferenceSession> {
  let s = sessions.get(name);
  if (!s) {
    s = (async () => {
      const g = new GraphBuilder();
      build(g);
      return (await createSession(modelToBuffer(g.model(name, name), g.tensors), { provider: 'cpu' })).session;
    })();
    sessions.set(name, s);
  }
  return s;
}

export const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

/** A · B for `[n, k]` · `[k, m]`. */
export async function matmul(a: Float32Array, b: Float32Array, n: number, k: number, m: number): Promise<Float32Array> {
  const s = await cached('matmul', (g) => {
    g.output(g.op('MatMul', [g.input('A', DataType.FLOAT, ['n', 'k']), g.input('B', DataType.FLOAT, ['k', 'm'])]), 'C', DataType.FLOAT, ['n', 'm']);
  });
  return (await s.run({ A: tensor(a, [n, k]), B: tensor(b, [k, m]) })).C.data as Float32Array;
}

/** A⁻¹ · (B · C) for `A [k, k]`, `B [k, n]`, `C [n, m]` (com.microsoft.Inverse: the O(k³) work in native code). */
export async function solveProduct(a: Float32Array, b: Float32Array, c: Float32Array, k: number, n: number, m: number): Promise<Float32Array> {
  const s = await cached('solveProduct', (g) => {
    const inv = g.op('Inverse', [g.input('A', DataType.FLOAT, ['k', 'k'])], {}, 'inverse', 'com.microsoft');
    const bc = g.op('MatMul', [g.input('B', DataType.FLOAT, ['k', 'n']), g.input('C', DataType.FLOAT, ['n', 'm'])]);
    g.output(g.op('MatMul', [inv, bc]), 'X', DataType.FLOAT, ['k', 'm']);
  });
  return (await s.run({ A: tensor(a, [k, k]), B: tensor(b, [k, n]), C: tensor(c, [n, m]) })).X.data as Float32Array;
}

/** tr(Dᵀ H D) = Σ D ⊙ (H D): the output error energy of a weight change D `[n, m]` on inputs with Gram H `[n, n]`. */
export async function quadraticForm(h: Float32Array, d: Float32Array, n: number, m: number): Promise<number> {
  const s = await cached('quadraticForm', (g) => {
    const dIn = g.input('D', DataType.FLOAT, ['n', 'm']);
    const hd = g.op('MatMul', [g.input('H', DataType.FLOAT, ['n', 'n']), dIn]);
    g.output(g.op('ReduceSum', [g.op('Mul', [dIn, hd])], { keepdims: 0 }), 'E', DataType.FLOAT, []);
  });
  return ((await s.run({ H: tensor(h, [n, n]), D: tensor(d, [n, m]) })).E.data as Float32Array)[0];
}
