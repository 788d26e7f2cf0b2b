// Newton–Schulz iteration for the inverse of a symmetric positive definite A, X ← 2X − X·A·X, unrolled into one
// ONNX Runtime graph so that every MatMul runs on the session's provider and nothing comes back to the host before
// the end: the GPU alternative to the Cholesky factor that issue 14 asks to measure (bench linalg on the CPU,
// bench/gpu.sh on WebGPU). Not used by the engine. X₀ = I/‖A‖∞ (above λmax by Gershgorin), so every iterate is a
// polynomial in A and each eigenvalue's residual 1 − λx squares per iteration once below 1: about log₂ of the
// condition number iterations, then a few more.
import { DataType } from '../../src/onnx/proto';
import { GraphBuilder } from '../../src/graph/graph';
import { modelToBuffer } from '../../src/onnx/writeModel';
import { createSession, ort, type SessionOptions } from '../../src/runtime/session';

/** Steps measured: enough for bench linalg's calibration-like Gram at n = 2048 to reach the factor's error. */
export const NS_ITERATIONS = 40;

/** A graph of `iterations` Newton–Schulz steps for an `[n, n]` input `A` from the start `X0`. */
export async function newtonSchulzSession(o: SessionOptions, n: number, iterations: number) {
  const g = new GraphBuilder();
  const a = g.input('A', DataType.FLOAT, [n, n]);
  let x = g.input('X0', DataType.FLOAT, [n, n]);
  const two = g.floats([2], true);
  for (let i = 0; i < iterations; i++)
    x = g.op('Sub', [g.op('Mul', [x, two]), g.op('MatMul', [x, g.op('MatMul', [a, x])])]);
  g.output(x, 'X', DataType.FLOAT, [n, n]);
  const describe = `Newton–Schulz inverse (${iterations} iterations)`;
  const { session } = await createSession(modelToBuffer(g.model('ns', 'ns'), g.tensors), { ...o, describe });
  const invert = async (m: Float32Array): Promise<Float32Array> => {
    let rowSum = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.abs(m[i * n + j]);
      rowSum = Math.max(rowSum, s);
    }
    const x0 = new Float32Array(n * n);
    for (let i = 0; i < n; i++) x0[i * n + i] = 1 / rowSum;
    const feeds = { A: new ort.Tensor('float32', m, [n, n]), X0: new ort.Tensor('float32', x0, [n, n]) };
    return (await session.run(feeds)).X.data as Float32Array;
  };
  return { invert, release: () => session.release() };
}
