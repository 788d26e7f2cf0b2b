// Whether a provider multiplies fp16 itself, for the `fastest` arithmetic (design.md "Scale"). ONNX Runtime's CPU
// provider has no fp16 MatMul on x64: it wraps the fp32 kernel in Casts of its own (the fp16 test's perplexity
// within 1e-3; bench linalg times fp16 and fp32 MatMul alike), and a Cast it inserts on a weight runs at the start
// of every run, holding all weights in fp32 at once. An accelerator may hand fp16 products to the CPU too
// (CoreML's default format), or register fp16 kernels whose shaders fail at the first run (WebGPU on an adapter
// without fp16 shaders): a tiny product built as graph/linear.ts builds it, run once wholly on the provider, tells.
import { DataType } from '../onnx/proto';
import { GraphBuilder } from '../graph/graph';
import { modelToBuffer } from '../onnx/writeModel';
import { createSession, likelyProvider, ort, type ProviderChoice, type SessionOptions } from './session';
import { toHalfBytes } from '../onnx/tensorData';

const tried = new Map<string, Promise<boolean>>();

async function runsHalfProduct(provider: ProviderChoice): Promise<boolean> {
  const g = new GraphBuilder();
  const x16 = g.op('Cast', [g.input('x', DataType.FLOAT, [2, 8])], { to: DataType.FLOAT16 });
  const w = g.initializer('w', [8, 8], () => toHalfBytes(new Float32Array(64).fill(0.5)), DataType.FLOAT16);
  g.output(g.op('Cast', [g.op('MatMul', [x16, w])], { to: DataType.FLOAT }), 'y', DataType.FLOAT, [2, 8]);
  let s: Awaited<ReturnType<typeof createSession>> | undefined;
  try {
    s = await createSession(modelToBuffer(g.model('probe', 'fp16 product probe'), g.tensors), {
      provider,
      probe: true,
    });
    const y = (await s.session.run({ x: new ort.Tensor('float32', new Float32Array(16).fill(1), [2, 8]) })).y;
    return (y.data as Float32Array).every((v) => v === 4);
  } catch {
    return false;
  } finally {
    await s?.session.release();
  }
}

/** The arithmetic a graph over fp16 weights is built with under `o.compute` (fp32 where there are none). */
export async function arithmeticFor(halfWeights: boolean, o: SessionOptions): Promise<'float32' | 'float16'> {
  const choice = o.compute ?? 'float32';
  if (choice !== 'fastest') return choice;
  const provider = likelyProvider(o.provider);
  if (!halfWeights || provider === 'cpu') return 'float32';
  if (!tried.has(provider)) tried.set(provider, runsHalfProduct(provider));
  return (await tried.get(provider)!) ? 'float16' : 'float32';
}
