// One layer-by-layer statistics pass in a process of its own (peak RSS is per process), for bench/layerMemory.ts:
// every layer run on the last one's outputs with all four capture points, batched as asked. Prints one JSON line.
import { loadDecoder } from '../src/model/recognise';
import { loadModelTokenizer } from '../src/text/tokenizer';
import { sampledWindows, tokenizePrefix } from '../src/text/windows';
import { passLayer } from '../src/compress/calibration';
import { calibrationInputs, layerInputs, type LayerInputs } from '../src/runtime/activationStats';
import { CAPTURE_POINTS } from '../src/graph/decoderGraph';

export interface LayerMemoryRequest {
  model: string;
  text: string;
  seqLen: number;
  windows: number;
  /** Windows a batch: `auto` as the engine chooses (`layerInputs`), or a fixed number (the former 4). */
  batch: 'auto' | number;
}

async function main(r: LayerMemoryRequest): Promise<void> {
  const d = loadDecoder(r.model);
  const ids = tokenizePrefix(r.text, loadModelTokenizer(r.model, d.config.vocab), 16 * r.windows * r.seqLen);
  const windows = sampledWindows(ids, r.seqLen, r.windows, 0);
  let input: LayerInputs = r.batch === 'auto' ? layerInputs(d, windows) : calibrationInputs(windows, r.batch);
  const batch = input.batch;
  const t0 = performance.now();
  for (let l = 0; l < d.layers.length; l++) {
    const pass = await passLayer(d, l, input, {
      provider: 'cpu',
      points: CAPTURE_POINTS,
      keepOutput: l < d.layers.length - 1,
    });
    input.hidden?.release();
    if (pass.next) input = pass.next;
  }
  input.hidden?.release();
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ batch, seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
}

void main(JSON.parse(process.argv[2]) as LayerMemoryRequest);
