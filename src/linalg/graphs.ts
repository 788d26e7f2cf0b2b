// Small ONNX Runtime graphs for the heavy products of reformation, importance scores and SparseGPT.
import { DataType } from '../onnx/proto';
import { GraphBuilder } from '../graph/graph';
import { modelToBuffer } from '../onnx/writeModel';
import { createSession, likelyProvider, ort, type SessionOptions } from '../runtime/session';
import { inverseUpperFactor } from './inverseCholesky';

/**
 * Up to this size a symmetric positive definite matrix is inverted by ONNX Runtime's `com.microsoft.Inverse`
 * (Eigen's LU); above it, through its Cholesky factor (inverseCholesky.ts, MatMuls with 128-wide JS leaves), in
 * O(n³) MatMuls like the 2×2 Schur-complement inverse this replaced, whose error grows with the condition of its
 * blocks: on a damped Gram matrix of fewer positions than channels with dominant channel means (as calibration on
 * 8 × 128 tokens gives a 2048-wide layer) that one gave |H·H⁻¹ − I| up to 290 at n = 2048, the factor 3e-4 (`npm run
 * bench -- linalg`).
 */
export const INVERSE_LEAF = 1024;

/**
 * Rows of a matrix held where the linear algebra runs, between calls: on WebGPU a GPU buffer, elsewhere host memory
 * that ONNX Runtime reads in place. SparseGPT's lazy batch updates run on them there, and only the next block's rows
 * come to the host: not every later row after each block (7.7 GB per 7B down_proj).
 */
export interface ResidentRows {
  /** How many rows are still held. */
  readonly rows: number;
  /** Subtracts A·E from every held row (A `[rows, b]`, E `[b, m]`); hands the first `k` to the host, holds the rest. */
  updateAndTake(a: Float32Array, e: Float32Array, b: number, k: number): Promise<Float32Array>;
  /** Frees what is still held. */
  release(): void;
}

/**
 * The linear algebra of one job, on the job's execution provider and threads: on a GPU the O(n³) MatMuls run
 * there, and an `Inverse` up to INVERSE_LEAF, which WebGPU lacks, goes to the CPU provider inside the same session.
 */
export interface Linalg {
  /** A · B for `[n, k]` · `[k, m]`. */
  matmul(a: Float32Array, b: Float32Array, n: number, k: number, m: number): Promise<Float32Array>;
  /** Aᵀ · B for `A [k, n]`, `B [k, m]`, without a transposed copy of A. */
  matmulTransposedA(a: Float32Array, b: Float32Array, k: number, n: number, m: number): Promise<Float32Array>;
  /** A⁻¹ for a symmetric positive definite `A [k, k]`. */
  inverseSpd(a: Float32Array, k: number): Promise<Float32Array>;
  /** A⁻¹ · (B · C + D) for a symmetric positive definite `A [k, k]`, `B [k, n]`, `C [n, m]`, `D [k, m]`. */
  solveProduct(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    d: Float32Array,
    k: number,
    n: number,
    m: number,
  ): Promise<Float32Array>;
  /** tr(Dᵀ H D) = Σ D ⊙ (H D): the output error energy of a weight change D `[n, m]` on inputs with Gram H `[n, n]`. */
  quadraticForm(h: Float32Array, d: Float32Array, n: number, m: number): Promise<number>;
  /** Holds the rows of `w [rows, m]` where the linear algebra runs (`ResidentRows`); on the CPU `w` is updated in place. */
  residentRows(w: Float32Array, rows: number, m: number): ResidentRows;
}

/**
 * Per provider, threads and kind of graph, the session of the last size asked for: sizes change per layer, and a
 * 7B layer's are large.
 */
const sessions = new Map<string, { size: string; session: Promise<ort.InferenceSession> }>();

function cached(
  o: SessionOptions,
  kind: string,
  size: string,
  build: (g: GraphBuilder) => void,
  deviceOutputs?: string[],
): Promise<ort.InferenceSession> {
  const key = `${o.provider ?? 'auto'}|${o.threads ?? 0}|${kind}`;
  const held = sessions.get(key);
  if (held?.size === size) return held.session;
  // A session that failed to open has nothing to release, and is not kept for the next call.
  void held?.session.then(
    (s) => s.release(),
    () => undefined,
  );
  const session = (async () => {
    const g = new GraphBuilder();
    build(g);
    const describe = `linear algebra (${kind})`;
    const options = { provider: o.provider, threads: o.threads, noArena: true, describe, deviceOutputs };
    return (await createSession(modelToBuffer(g.model(kind, kind), g.tensors), options)).session;
  })();
  sessions.set(key, { size, session });
  session.catch(() => {
    if (sessions.get(key)?.session === session) sessions.delete(key);
  });
  return session;
}

const tensor = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

/** The graph input of a square matrix of size `n`. */
const squareInput = (g: GraphBuilder, name: string, n: number) => g.input(name, DataType.FLOAT, [n, n]);

/** U with A⁻¹ = UᵀU, in float32 for the MatMuls that apply it. */
const inverseFactor = async (la: Linalg, a: Float32Array, k: number) =>
  Float32Array.from(await inverseUpperFactor(la, a, k));

/** The linear algebra on `o`'s provider and threads. */
export function linalgOn(o: SessionOptions): Linalg {
  const on = { provider: o.provider, threads: o.threads };
  const la: Linalg = {
    async matmul(a, b, n, k, m) {
      const s = await cached(on, 'matmul', '', (g) => {
        g.output(
          g.op('MatMul', [g.input('A', DataType.FLOAT, ['n', 'k']), g.input('B', DataType.FLOAT, ['k', 'm'])]),
          'C',
          DataType.FLOAT,
          ['n', 'm'],
        );
      });
      return (await s.run({ A: tensor(a, [n, k]), B: tensor(b, [k, m]) })).C.data as Float32Array;
    },
    async matmulTransposedA(a, b, k, n, m) {
      const s = await cached(on, 'matmulTransposedA', '', (g) => {
        const inputs = [g.input('A', DataType.FLOAT, ['k', 'n']), g.input('B', DataType.FLOAT, ['k', 'm'])];
        g.output(g.op('Gemm', inputs, { transA: 1 }), 'C', DataType.FLOAT, ['n', 'm']);
      });
      return (await s.run({ A: tensor(a, [k, n]), B: tensor(b, [k, m]) })).C.data as Float32Array;
    },
    async inverseSpd(a, k) {
      if (k > INVERSE_LEAF) {
        const u = await inverseFactor(la, a, k);
        return la.matmulTransposedA(u, u, k, k, k);
      }
      const s = await cached(on, 'inverse', String(k), (g) => {
        g.output(g.op('Inverse', [squareInput(g, 'A', k)], {}, 'inv', 'com.microsoft'), 'X', DataType.FLOAT, [k, k]);
      });
      return (await s.run({ A: tensor(a, [k, k]) })).X.data as Float32Array;
    },
    async solveProduct(a, b, c, d, k, n, m) {
      const large = k > INVERSE_LEAF;
      // Large: B·C + D here, then Uᵀ(U(B·C + D)) with the factor.
      const s = await cached(on, large ? 'productPlus' : 'solveProduct', large ? '' : String(k), (g) => {
        const bc = g.op('MatMul', [g.input('B', DataType.FLOAT, ['k', 'n']), g.input('C', DataType.FLOAT, ['n', 'm'])]);
        const rhs = g.op('Add', [bc, g.input('D', DataType.FLOAT, ['k', 'm'])]);
        if (large) return g.output(rhs, 'X', DataType.FLOAT, ['k', 'm']);
        const inv = g.op('Inverse', [squareInput(g, 'A', k)], {}, 'inv', 'com.microsoft');
        g.output(g.op('MatMul', [inv, rhs]), 'X', DataType.FLOAT, [k, 'm']);
      });
      const feeds = { B: tensor(b, [k, n]), C: tensor(c, [n, m]), D: tensor(d, [k, m]) };
      if (!large) return (await s.run({ ...feeds, A: tensor(a, [k, k]) })).X.data as Float32Array;
      const rhs = (await s.run(feeds)).X.data as Float32Array;
      const u = await inverseFactor(la, a, k);
      return la.matmulTransposedA(u, await la.matmul(u, rhs, k, k, m), k, k, m);
    },
    async quadraticForm(h, d, n, m) {
      const s = await cached(on, 'quadraticForm', '', (g) => {
        const dIn = g.input('D', DataType.FLOAT, ['n', 'm']);
        const hd = g.op('MatMul', [g.input('H', DataType.FLOAT, ['n', 'n']), dIn]);
        g.output(g.op('ReduceSum', [g.op('Mul', [dIn, hd])], { keepdims: 0 }), 'E', DataType.FLOAT, []);
      });
      return ((await s.run({ H: tensor(h, [n, n]), D: tensor(d, [n, m]) })).E.data as Float32Array)[0];
    },
    residentRows(w, rows, m) {
      // On the CPU the update is written over the rows themselves (the output bound to the input's memory: Gemm
      // copies W into its output before the product adds to it, so that copy is onto itself), and the rows left are
      // a view: no buffer per block (`npm run bench -- linalg` times this against the former product + JS
      // subtraction). On WebGPU they stay in a GPU buffer, which the host cannot read: the graph splits the update
      // into the rows handed over and the rest, which stays; the last take comes back whole.
      const onDevice = likelyProvider(on.provider) === 'webgpu';
      let held: ort.Tensor | undefined = tensor(w, [rows, m]);
      let left = rows;
      const release = () => {
        if (held?.location === 'gpu-buffer') held.dispose();
        held = undefined;
      };
      const updated = (g: GraphBuilder) =>
        g.op(
          'Gemm',
          [
            g.input('A', DataType.FLOAT, ['r', 'b']),
            g.input('E', DataType.FLOAT, ['b', 'm']),
            g.input('W', DataType.FLOAT, ['r', 'm']),
          ],
          { alpha: { float: -1 }, beta: { float: 1 } },
        );
      const whole = () => cached(on, 'updateRows', '', (g) => g.output(updated(g), 'X', DataType.FLOAT, ['r', 'm']));
      return {
        get rows() {
          return left;
        },
        async updateAndTake(a, e, b, k) {
          if (!held || k > left) throw new Error(`internal error: ${k} rows asked of ${left} held`);
          const feeds = { W: held, A: tensor(a, [left, b]), E: tensor(e, [b, m]) };
          if (!onDevice) {
            await (await whole()).run(feeds, { X: held });
            const rowsNow = held.data as Float32Array;
            left -= k;
            held = left > 0 ? tensor(rowsNow.subarray(k * m), [left, m]) : undefined;
            return rowsNow.slice(0, k * m);
          }
          if (k === left) {
            // No empty GPU buffer for the rest: zero-size WebGPU outputs are where ONNX Runtime has had bugs.
            const all = (await (await whole()).run(feeds)).X.data as Float32Array;
            release();
            left = 0;
            return all;
          }
          const s = await cached(
            on,
            'updateAndTake',
            '',
            (g) => {
              const [x, count, axis] = [updated(g), g.input('K', DataType.INT64, [1]), g.ints([0])];
              g.output(g.op('Slice', [x, g.ints([0]), count, axis]), 'Taken', DataType.FLOAT, ['k', 'm']);
              // Slice ends are clamped to the size: 2⁵³ means "to the end".
              g.output(g.op('Slice', [x, count, g.ints([2 ** 53]), axis]), 'Rest', DataType.FLOAT, ['t', 'm']);
            },
            ['Rest'],
          );
          const out = await s.run({ ...feeds, K: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]) });
          release();
          left -= k;
          held = out.Rest;
          return out.Taken.data as Float32Array;
        },
        release,
      };
    },
  };
  return la;
}
