// `npm run bench -- linalg`: the measurements behind design choices of the scale work, side by side in one run.
// (1) inverses of a 7B-class layer's sizes, time and accuracy: ONNX Runtime's com.microsoft.Inverse, the
// Schur-complement blocks used before (bench/reference/schurInverse.ts), the Cholesky factor used now and, at the
// smaller size, Newton–Schulz in MatMuls (bench/reference/newtonSchulz.ts: 4 n³ flops per iteration, too slow on
// this CPU at the larger one), on a diagonally dominant matrix and on a damped calibration-like Gram
// matrix of fewer positions than channels; (2) an fp16 against an fp32 MatMul on the CPU provider, which
// decides that our graphs widen fp16 weights and compute in fp32; (3) the linear algebra of one Llama-2-7B linear
// on the CPU (inputs 4096 and 11008 wide), time and peak memory, in a process of its own (bench/scaleWorker.ts),
// SparseGPT both with its held rows and with every later row on the host as before (bench/reference/hostRows.ts).
import { GraphBuilder } from '../src/graph/graph';
import { DataType } from '../src/onnx/proto';
import { modelToBuffer } from '../src/onnx/writeModel';
import { createSession, ort } from '../src/runtime/session';
import { linalgOn } from '../src/linalg/graphs';
import { emitInverse } from './reference/schurInverse';
import { NS_ITERATIONS, newtonSchulzSession } from './reference/newtonSchulz';
import { calibrationGram, inverseError, spd } from './grams';
import { machine, writeResults } from './lib';
import { worker } from './scale';

async function session(build: (g: GraphBuilder) => void): Promise<ort.InferenceSession> {
  const g = new GraphBuilder();
  build(g);
  return (await createSession(modelToBuffer(g.model('bench', 'bench'), g.tensors), { provider: 'cpu' })).session;
}

/** Median seconds of `reps` runs of `f` after one warm-up. */
async function timed(f: () => Promise<unknown>, reps = 3): Promise<number> {
  await f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    t.push((performance.now() - t0) / 1000);
  }
  return t.sort((a, b) => a - b)[Math.floor(reps / 2)];
}

const cpu = linalgOn({ provider: 'cpu' });

export async function benchLinalg(): Promise<void> {
  const inverseRows = [];
  for (const n of [2048, 5632]) {
    const inverse = (emit: (g: GraphBuilder, a: string) => string) =>
      session((g) => g.output(emit(g, g.input('A', DataType.FLOAT, [n, n])), 'X', DataType.FLOAT, [n, n]));
    const eigen = await inverse((g, a) => g.op('Inverse', [a], {}, 'inv', 'com.microsoft'));
    const schur = await inverse((g, a) => emitInverse(g, a, n));
    const ways: [string, (a: Float32Array) => Promise<Float32Array>][] = [
      [
        'com.microsoft.Inverse',
        async (a) => (await eigen.run({ A: new ort.Tensor('float32', a, [n, n]) })).X.data as Float32Array,
      ],
      [
        'Schur-complement blocks (replaced)',
        async (a) => (await schur.run({ A: new ort.Tensor('float32', a, [n, n]) })).X.data as Float32Array,
      ],
      ['Cholesky factor (ours)', (a) => cpu.inverseSpd(a, n)],
    ];
    if (n <= 2048)
      ways.push([
        `Newton–Schulz, ${NS_ITERATIONS} iterations`,
        (await newtonSchulzSession({ provider: 'cpu' }, n, NS_ITERATIONS)).invert,
      ]);
    for (const [matrix, a] of [
      ['diagonally dominant', spd(n)],
      ['calibration Gram, n/2 positions', await calibrationGram(cpu, n)],
    ] as const)
      for (const [way, invert] of ways) {
        const seconds = await timed(() => invert(a), 1);
        const error = await inverseError(cpu, a, await invert(a), n);
        inverseRows.push({ n, matrix, way, seconds, error });
        console.log(
          `inverse n=${n}, ${matrix}, ${way}: ${seconds.toFixed(2)} s, max |A·A⁻¹ − I| ${error.toExponential(1)}`,
        );
      }
  }
  const matmulRows = [];
  const [M, K, N] = [1024, 2048, 2048];
  for (const type of ['float32', 'float16'] as const) {
    const dt = type === 'float32' ? DataType.FLOAT : DataType.FLOAT16;
    const w = type === 'float32' ? new Float32Array(K * N).fill(0.01) : new Uint16Array(K * N).fill(0x2000);
    const s = await session((g) =>
      g.output(
        g.op('MatMul', [g.input('x', dt, [M, K]), g.initializer('w', [K, N], new Uint8Array(w.buffer), dt)]),
        'y',
        dt,
        [M, N],
      ),
    );
    const x = new ort.Tensor(
      type,
      type === 'float32' ? new Float32Array(M * K).fill(1) : new Uint16Array(M * K).fill(0x3c00),
      [M, K],
    );
    const seconds = await timed(() => s.run({ x }), 5);
    matmulRows.push({ type, seconds, gflops: (2 * M * K * N) / seconds / 1e9 });
    console.log(`MatMul ${type}: ${seconds.toFixed(3)} s`);
  }
  // Llama-2-7B: q/k/v/o/gate/up read 4096-wide inputs, down_proj 11008-wide ones; a process per width.
  const linearRows = [4096, 11008].flatMap((n) => {
    const r = worker({ mode: 'linalg', provider: 'cpu', sizes: [n] });
    return Object.entries(r.seconds).map(([step, seconds]) => ({ step, seconds, peakRssBytes: r.peakRssAfter[step] }));
  });
  linearRows.forEach((r) => console.log(`${r.step}: ${r.seconds.toFixed(1)} s`));
  const md = [
    `${machine()}, CPU execution provider; medians (one run for the inverses after a warm-up, five for the products). Inverses: time, and the error against the definition.`,
    '',
    '| n | matrix | inverse | time | max \\|A·A⁻¹ − I\\| |',
    '| ---: | --- | --- | ---: | ---: |',
    ...inverseRows.map(
      (r) => `| ${r.n} | ${r.matrix} | ${r.way} | ${r.seconds.toFixed(2)} s | ${r.error.toExponential(1)} |`,
    ),
    '',
    `| MatMul ${M} × ${K} · ${K} × ${N} | time | GFLOP/s |`,
    '| --- | ---: | ---: |',
    ...matmulRows.map((r) => `| ${r.type} | ${(r.seconds * 1000).toFixed(0)} ms | ${r.gflops.toFixed(0)} |`),
    '',
    'One Llama-2-7B linear on the CPU (random matrices, 4096 outputs; one run each, in this order, one process per input width; the process holds the Gram matrix in float64 and W from the start, as a job does):',
    '',
    '| step | time | peak RSS so far |',
    '| --- | ---: | ---: |',
    ...linearRows.map(
      (r) => `| ${r.step} | ${r.seconds.toFixed(1)} s | ${(r.peakRssBytes / 2 ** 30).toFixed(2)} GiB |`,
    ),
  ].join('\n');
  writeResults('linalg', { machine: machine(), inverse: inverseRows, matmul: matmulRows, linear7b: linearRows }, md);
}
