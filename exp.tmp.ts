import { loadDecoder } from './src/model/recognise';
import { passLayer } from './src/compress/calibration';
import { calibrationInputs } from './src/runtime/activationStats';
(async () => {
const d = loadDecoder('/tmp/try/qwen-f16/model.onnx');
const W = Number(process.env.W ?? 16);
let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const windows = Array.from({ length: W }, () => Array.from({ length: 2049 }, () => Math.floor(rnd() * 32000)));
const t0 = performance.now(); const r0 = process.resourceUsage();
let input: any = calibrationInputs(windows, Number(process.env.B ?? 4));
let peak = 0;
for (let l = 0; l < 3; l++) {
  const pass = await passLayer(d, l, input, { provider: 'cpu', points: ['attn_in', 'o_in', 'mlp_in', 'down_in'], keepOutput: true } as any);
  input.hidden?.release(); input = pass.next;
  peak = Math.max(peak, process.memoryUsage().rss);
}
const r1 = process.resourceUsage();
console.log(JSON.stringify({ arena: process.env.XARENA, s: ((performance.now() - t0) / 1000).toFixed(1), user: ((r1.userCPUTime - r0.userCPUTime)/1e6).toFixed(1), sys: ((r1.systemCPUTime - r0.systemCPUTime)/1e6).toFixed(1), faults: r1.minorPageFault - r0.minorPageFault, maxRssGB: (r1.maxRSS/1e6).toFixed(2) }));

})();
