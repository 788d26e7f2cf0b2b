// Whether a provider multiplies fp16 itself, for the `fastest` arithmetic (design.md "Scale"). ONNX Runtime's CPU
// provider has no fp16 MatMul on x64: it wraps the fp32 kernel in Casts of its own (the fp16 test's perplexity
// within 1e-3; bench linalg times fp16 and fp32 MatMul alike), and a Cast it inserts on a weight runs at the start
// of every run, holding all weights in fp32 at once. An accelerator may hand fp16 products to the CPU too
// (CoreML's default format), or register fp16 kernels whose shaders fail at the first run (WebGPU on an adapter
// without fp16 shaders): a tiny product built as graph/linear.ts builds it, run once wholly on the provider, tells.
import { halfRefusal, likelyProvider, type SessionOptions } from './session';

/** The arithmetic a graph over fp16 weights is built with under `o.compute` (fp32 where there are none). */
export async function arithmeticFor(halfWeights: boolean, o: SessionOptions): Promise<'float32' | 'float16'> {
  const choice = o.compute ?? 'float32';
  if (choice !== 'fastest') return choice;
  const provider = likelyProvider(o.provider);
  if (!halfWeights || provider === 'cpu') return 'float32';
  return (await halfRefusal(provider, true)) === undefined ? 'float16' : 'float32';
}
