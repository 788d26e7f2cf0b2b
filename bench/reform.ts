// Reformation on every mask set (the search's and each baseline's) at 0.8 and 0.6 on both models: held-out
// perplexity before and after, closed form vs ADMM on quality and time; then the searched + reformed model
// exported and timed against the original (decode tokens/s, same run, same provider).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { denseLayerStats } from '../src/compress/calibration';
import { layerScores } from '../src/compress/importance/scores';
import { selectGlobal, selectUniform } from '../src/compress/importance/select';
import { withCompensation } from '../src/compress/importance/compensation';
import { MaskedEvaluator } from '../src/compress/maskedEvaluator';
import { readMasksFile } from '../src/compress/masksFile';
import { reformDecoder } from '../src/compress/reform/reformation';
import { DEFAULT_REFORM, type ReformMethod } from '../src/compress/reform/reformLayer';
import { sliceDecoder, type SubnetMask } from '../src/compress/subnet';
import { writeModelFiles } from '../src/compress/exportModel';
import type { Decoder } from '../src/model/decoder';
import { totalCounts } from '../src/model/params';
import { perplexity } from '../src/runtime/perplexity';
import { measureLatency } from '../src/runtime/latency';
import { BASELINE_SETUP } from './baselines';
import { SEARCH_RATIOS } from './search';
import { benchData, machine, MODELS, workDir, writeResults } from './lib';

interface Row {
  model: string;
  ratio: number;
  masks: string;
  before: number;
  closedForm: number;
  closedFormSeconds: number;
  admm?: number;
  admmSeconds?: number;
}

export async function benchReform(): Promise<void> {
  const rows: Row[] = [];
  const speed: { model: string; ratio: number; params: number; originalTps: number; compressedTps: number; speedup: number; target: number; originalPrefillMs: number; compressedPrefillMs: number }[] = [];
  for (const m of MODELS) {
    const data = benchData(m.file, BASELINE_SETUP);
    const d = data.decoder;
    const stats = await denseLayerStats(d, data.calib, { provider: 'cpu' });
    const ppl = async (model: Decoder, mask: SubnetMask) => perplexity(await (await MaskedEvaluator.open(model, { provider: 'cpu' })).nll(mask, data.heldOut));
    const reform = async (model: Decoder, mask: SubnetMask, method: ReformMethod) => {
      const t0 = performance.now();
      const r = await reformDecoder(model, mask, data.calib, { ...DEFAULT_REFORM, method }, { provider: 'cpu' });
      return { decoder: r.decoder, seconds: (performance.now() - t0) / 1000, ppl: await ppl(r.decoder, mask) };
    };
    for (const ratio of SEARCH_RATIOS) {
      const target = ratio * totalCounts(d).params;
      const sets: { name: string; model: Decoder; mask: SubnetMask; admm: boolean }[] = [];
      const searchMasks = path.join(workDir, `search-${path.basename(path.dirname(m.file))}-${ratio}-halving`, 'masks.json');
      if (fs.existsSync(searchMasks)) sets.push({ name: 'search', model: d, mask: readMasksFile(searchMasks, d).mask, admm: true });
      for (const method of ['magnitude', 'wanda-sp', 'flap', 'obs'] as const) {
        const scores = await layerScores(d, stats, method, 'head');
        const mask = method === 'flap' ? selectGlobal(d, scores, 'head', target) : selectUniform(d, scores, 'head', target);
        sets.push({ name: method, model: d, mask, admm: method === 'wanda-sp' });
        if (method === 'flap') sets.push({ name: 'flap+bias', model: withCompensation(d, mask, stats).decoder, mask, admm: false });
      }
      for (const set of sets) {
        const before = await ppl(set.model, set.mask);
        const cf = await reform(set.model, set.mask, 'closed-form');
        const ad = set.admm ? await reform(set.model, set.mask, 'admm') : undefined;
        rows.push({ model: m.name, ratio, masks: set.name, before, closedForm: cf.ppl, closedFormSeconds: cf.seconds, admm: ad?.ppl, admmSeconds: ad?.seconds });
        console.log(`${m.name} ${ratio} ${set.name}: ${before.toFixed(3)} → ${cf.ppl.toFixed(3)} (${cf.seconds.toFixed(1)} s)${ad ? `, ADMM ${ad.ppl.toFixed(3)} (${ad.seconds.toFixed(1)} s)` : ''}`);
        if (set.name === 'search') {
          const dir = path.join(workDir, `export-${m.name}-${ratio}`);
          fs.rmSync(dir, { recursive: true, force: true });
          fs.mkdirSync(dir, { recursive: true });
          const small = sliceDecoder(cf.decoder, set.mask);
          writeModelFiles(small, dir, undefined);
          const [lo, lc] = await measureLatency([{ file: m.file, layers: d.layers }, { file: path.join(dir, 'model.onnx'), layers: small.layers }], { provider: 'cpu', prompt: 128, decode: 128, reps: 9, vocab: d.config.vocab });
          const p = totalCounts(small).params / totalCounts(d).params;
          speed.push({ model: m.name, ratio, params: p, originalTps: lo.decodeTokensPerSecond, compressedTps: lc.decodeTokensPerSecond, speedup: lc.decodeTokensPerSecond / lo.decodeTokensPerSecond, target: 0.8 / p, originalPrefillMs: lo.prefillMs, compressedPrefillMs: lc.prefillMs });
        }
      }
    }
  }
  const f = (x?: number) => (x === undefined ? '—' : x.toFixed(3));
  const md = [
    `Held-out perplexity before → after reformation of o_proj / down_proj (closed-form ridge least squares; ADMM ρ = 1, 30 iterations, for the search and Wanda-sp masks), same held-out and calibration text as the baselines table (reformation on the ${BASELINE_SETUP.calibWindows} calibration windows × ${BASELINE_SETUP.seqLen}). Time = the whole layer-by-layer reformation. ${machine()}.`,
    '',
    '| model | ratio | masks | before | closed form | time | ADMM | time |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.model} | ${r.ratio} | ${r.masks} | ${f(r.before)} | **${f(r.closedForm)}** | ${r.closedFormSeconds.toFixed(1)} s | ${f(r.admm)} | ${r.admmSeconds ? `${r.admmSeconds.toFixed(1)} s` : '—'} |`),
    '',
    'Searched + reformed model exported (physically sliced) vs the original ONNX: batch 1, prefill 128 tokens then 128 decode steps with the KV cache, CPU provider, median of 9 interleaved runs. Target: speed-up ≥ 0.8 × 1/ratio.',
    '',
    '| model | ratio | exported params / original | prefill ms (orig → exported) | decode tok/s original | decode tok/s exported | speed-up | target |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...speed.map((s) => `| ${s.model} | ${s.ratio} | ${s.params.toFixed(4)} | ${s.originalPrefillMs.toFixed(2)} → ${s.compressedPrefillMs.toFixed(2)} | ${s.originalTps.toFixed(0)} | ${s.compressedTps.toFixed(0)} | ${s.speedup.toFixed(2)}× | ${s.target.toFixed(2)}× |`),
  ].join('\n');
  writeResults('reform', { machine: machine(), rows, speed }, md);
}
