import * as fs from 'node:fs';
import type { Decoder } from '../model/decoder';
import { buildDecoderGraph } from '../build/decoderGraph';
import { writeModelFile, type WriteOptions } from '../onnx/writeModel';
import type { TextTokenizer } from '../text/tokenizer';
import { OutputFolder } from '../util/outputFolder';
import { generationConfig, hfConfig } from './hfFiles';

export interface ExportedModel {
  dir: string;
  files: string[];
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/**
 * Writes a runnable model folder: `model.onnx` (+ `model.onnx_data` when large) with the standard decoder I/O
 * and KV cache, `config.json`, `generation_config.json` and the tokenizer files.
 */
export function exportDecoder(d: Decoder, outDir: string, tokenizer: TextTokenizer | undefined, write: WriteOptions = {}): ExportedModel {
  const out = new OutputFolder(outDir);
  try {
    const built = buildDecoderGraph(d, { kvCache: true, head: 'logits', masks: false });
    writeModelFile(built.model, built.tensors, out.file('model.onnx'), write);
    fs.writeFileSync(out.file('config.json'), json(hfConfig(d)));
    fs.writeFileSync(out.file('generation_config.json'), json(generationConfig(d)));
    if (tokenizer) {
      fs.writeFileSync(out.file('tokenizer.json'), json(tokenizer.files.tokenizer));
      fs.writeFileSync(out.file('tokenizer_config.json'), json({ ...tokenizer.files.config, model_max_length: d.config.maxPositions }));
    }
    const dir = out.commit();
    return { dir, files: fs.readdirSync(dir).sort() };
  } catch (e) {
    out.abort();
    throw e;
  }
}
