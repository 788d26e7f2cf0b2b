// Whether a provider multiplies fp16 itself, for the `fastest` arithmetic (design.md "Scale"). ONNX Runtime's CPU
// provider has no fp16 MatMul on x64: it wraps the fp32 kernel in Casts of its own (same result and speed as our
// in-graph widening, measured), and a Cast it inserts on a weight runs at the start of every run, holding all
// weights in fp32 at once. An accelerator may likewise hand fp16 products to the CPU (CoreML's default format, a
// WebGPU adapter without fp16 shaders): a tiny fp16 MatMul that must run wholly on it tells.
import { DataType } from '../onnx/proto';
import { GraphBuilder } from '../graph/graph';
import { modelToBuffer } from '../onnx/writeModel';
import { createSession, likelyProvider, type SessionOptions } from './session';
import { toHalfBytes } from '../onnx/tensorData';

const tried = new Map<string, Promise<boolean>>();

async function runsHalfMatMul(provider: string): Promise<boolean> {
  const g = new GraphBuilder();
  const x = g.input('x', DataType.FLOAT16, [2, 8]);
  const w = g.initializer('w', [8, 8], () => toHalfBytes(new Float32Array(64).fill(0.5)), DataType.FLOAT16);
  g.output(g.op('MatMul', [x, w]), 'y', DataType.FLOAT16, [2, 8]);
  try {
    const s = await createSession(modelToBuffer(g.model('probe', 'fp16 MatMul probe'), g.tensors), {
      provider: provider as SessionOptions['provider'],
      probe: true,
    });
    await s.session.release();
    return true;
  } catch {
    return false;
  }
}

/** The arithmetic a graph over fp16 weights is built with under `o.compute` (fp32 where there are none). */
export async function arithmeticFor(halfWeights: boolean, o: SessionOptions): Promise<'float32' | 'float16'> {
  const choice = o.compute ?? 'float32';
  if (choice !== 'fastest') return choice;
  const provider = likelyProvider(o.provider);
  if (!halfWeights || provider === 'cpu') return 'float32';
  if (!tried.has(provider)) tried.set(provider, runsHalfMatMul(provider));
  return (await tried.get(provider)!) ? 'float16' : 'float32';
}
