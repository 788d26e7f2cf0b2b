import * as fs from 'node:fs';
import * as path from 'node:path';
import { floatBytes, type Decoder, type FloatType, type Weight } from '../model/decoder';
import { LINEAR_ROLES } from '../model/names';
import { buildDecoderGraph } from '../graph/decoderGraph';
import { writeModelFile, type WriteOptions } from '../onnx/writeModel';
import type { TextTokenizer } from '../text/tokenizer';
import { OutputFolder } from '../util/outputFolder';
import { writeJsonAtomic } from '../util/atomicWrite';
import { genaiConfig, generationConfig, hfConfig } from './hfFiles';

export interface ExportedModel {
  dir: string;
  files: string[];
}

/**
 * `d` to be exported in `type` (absent: its own precision): its embeddings, head and float linears are rounded to
 * it on writing, and its sizes and the measurements of the export count what it holds.
 */
export function exportedAs(d: Decoder, type: FloatType | undefined): Decoder {
  if (!type || type === (d.weightType ?? 'float32')) return d;
  const as = (w: Weight): Weight => (w.quant ? w : { ...w, storedBytesPerElement: floatBytes(type) });
  return {
    ...d,
    weightType: type,
    embed: as(d.embed),
    lmHead: as(d.lmHead),
    layerWeights: d.layerWeights.map((lw) => {
      const out = { ...lw };
      for (const role of LINEAR_ROLES) out[role] = as(lw[role]);
      return out;
    }),
  };
}

/** The KV cache type of `d`'s export: fp16 for an fp16 export (half the memory per token), else fp32. */
export const exportedKvCache = (d: Decoder): 'float32' | 'float16' =>
  d.weightType === 'float16' ? 'float16' : 'float32';

/**
 * Writes a runnable model into `dir`: `model.onnx` (+ `model.onnx_data` when large) with the standard decoder
 * I/O and KV cache, `config.json`, `generation_config.json`, `genai_config.json` and the tokenizer files.
 * `model.onnx` is written last, so its presence means the folder is complete.
 */
export function writeModelFiles(
  d: Decoder,
  dir: string,
  tokenizer: TextTokenizer | undefined,
  write: WriteOptions = {},
): void {
  writeJsonAtomic(path.join(dir, 'config.json'), hfConfig(d), 2);
  writeJsonAtomic(path.join(dir, 'generation_config.json'), generationConfig(d), 2);
  writeJsonAtomic(path.join(dir, 'genai_config.json'), genaiConfig(d, 'model.onnx'), 2);
  if (tokenizer) {
    writeJsonAtomic(path.join(dir, 'tokenizer.json'), tokenizer.files.tokenizer, 2);
    writeJsonAtomic(
      path.join(dir, 'tokenizer_config.json'),
      { ...tokenizer.files.config, model_max_length: d.config.maxPositions },
      2,
    );
  }
  // An fp16 (bf16) model stays so on disk, unless exported as another type: new weight values (and stored ones of
  // another type) are rounded to it, unchanged ones copied as they are.
  const built = buildDecoderGraph(d, {
    kvCache: true,
    kvCacheType: exportedKvCache(d),
    head: 'logits',
    masks: false,
    weightType: d.weightType,
  });
  writeModelFile(built.model, built.tensors, path.join(dir, 'model.onnx'), write);
}

/** `writeModelFiles` into a new folder, renamed into place when complete. */
export function exportDecoder(
  d: Decoder,
  outDir: string,
  tokenizer: TextTokenizer | undefined,
  write: WriteOptions = {},
): ExportedModel {
  const out = new OutputFolder(outDir);
  try {
    writeModelFiles(d, out.tmp, tokenizer, write);
    out.markModelFinished();
    const dir = out.commit();
    return { dir, files: fs.readdirSync(dir).sort() };
  } catch (e) {
    throw out.fail(e);
  }
}
