// A llama2.c legacy checkpoint of any shape with RANDOM weights (for the files-over-2-GiB check), written in chunks.
import * as fs from 'node:fs';

export interface Llama2cShape {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seqLen: number;
}

/** Writes `file` unless it exists; the float count follows shared/fixtures/README.md §1 (shared classifier). */
export function writeRandomLlama2c(file: string, s: Llama2cShape): string {
  if (fs.existsSync(file)) return file;
  const hs = s.dim / s.heads;
  const kvDim = s.kvHeads * hs;
  const floats =
    s.vocab * s.dim +
    s.layers * (2 * s.dim + 2 * s.dim * s.dim + 2 * s.dim * kvDim + 3 * s.dim * s.hidden) +
    s.dim +
    s.seqLen * hs;
  const chunk = new Float32Array(1 << 24);
  let x = 0x2545f491;
  for (let i = 0; i < chunk.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    chunk[i] = ((x >>> 0) / 2 ** 32 - 0.5) * 0.07;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(
      fd,
      new Uint8Array(Int32Array.from([s.dim, s.hidden, s.layers, s.heads, s.kvHeads, s.vocab, s.seqLen]).buffer),
    );
    for (let left = floats; left > 0; left -= chunk.length) {
      const n = Math.min(left, chunk.length);
      fs.writeSync(fd, new Uint8Array(chunk.buffer, 0, n * 4));
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return file;
}
