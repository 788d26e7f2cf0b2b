import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import type { LayerShape } from '../model/decoder';
import { isAbort } from '../util/errors';

/**
 * How much a fresh Node process's resident memory grows when it creates an ONNX Runtime session for `model` and
 * runs one 32-token step (ONNX Runtime's library is loaded before the baseline is taken). Current RSS, not the
 * peak: Linux carries a parent's peak (ru_maxrss) into a child across exec. NaN where the process failed (out of
 * memory, say); a cancel stops it (at 7B it loads the whole model).
 */
export async function residentBytes(
  model: string,
  layers: LayerShape[],
  provider: string,
  signal?: AbortSignal,
): Promise<number> {
  const ort = require.resolve('onnxruntime-node');
  const script = `
    const ort = require(${JSON.stringify(ort)});
    const [model, layers, provider] = JSON.parse(process.argv[1]);
    (async () => {
      const base = process.memoryUsage().rss;
      {
        const s = await ort.InferenceSession.create(model, { executionProviders: [provider] });
        const n = 32, i64 = (a, d) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), d);
        const feeds = { input_ids: i64(Array(n).fill(3), [1, n]), attention_mask: i64(Array(n).fill(1), [1, n]), position_ids: i64([...Array(n).keys()], [1, n]) };
        // An fp16 model's KV cache is fp16 (as kvCache.ts's emptyPast feeds it).
        const type = (name) => s.inputMetadata.find((m) => m.name === name)?.type ?? 'float32';
        layers.forEach((l, i) => { for (const kv of ['key', 'value']) { const name = 'past_key_values.' + i + '.' + kv, t = type(name); feeds[name] = new ort.Tensor(t, t === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, l.kvHeads, 0, l.headDim]); } });
        await s.run(feeds);
      }
      console.log(JSON.stringify({ base, after: process.memoryUsage().rss }));
    })();`;
  let stdout = '';
  const run = promisify(execFile)(
    process.execPath,
    ['-e', script, JSON.stringify([model, layers, provider])],
    // WebGPU's Dawn may write pages of warnings to stderr.
    { signal, maxBuffer: 64 * 2 ** 20 },
  );
  try {
    ({ stdout } = await run);
  } catch (e) {
    if (isAbort(e)) {
      // The signal rejects at once; the process, killed, may still hold the file the caller removes next.
      if (run.child.exitCode === null && run.child.signalCode === null) await once(run.child, 'close');
      throw e;
    }
    return NaN;
  }
  const m = JSON.parse(stdout.trim().split('\n').pop() || '{}') as { base?: number; after?: number };
  if (m.base === undefined || m.after === undefined) return NaN;
  return m.after - m.base;
}
