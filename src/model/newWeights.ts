// The weights a job computes (reformed o_proj/down_proj, sparsified and quantized linears): in memory up to a limit,
// beyond it in one file of the job's own folder, read back per weight when a graph or the export needs it
// (design.md "Scale"). A 7B's sparsified linears are 12.4 GiB in fp16; held in memory they would sit beside the
// original's session when the job measures it, twice the model in all.
import * as fs from 'node:fs';
import {
  dequantize,
  heldQuantized,
  quantizedArrays,
  quantizedLayout,
  readQuantized,
  type QuantizedLinear,
  type QuantizedWeight,
} from './quantizedLinear';
import { floatBytes, memoryWeight, narrowWeight, type FloatType, type Weight } from './decoder';
import { narrowBytesToFloat, toNarrowBytes } from '../onnx/tensorData';
import { readRangeFd } from '../util/readRange';

/** New weight bytes held in memory before later ones go to the file: what one graph may embed (design.md "Scale"). */
export const NEW_WEIGHTS_MEMORY_LIMIT = 2 ** 30;

/** Files not yet released, removed if the process ends first. */
const live = new Map<string, number>();
process.on('exit', () => {
  for (const [file, fd] of live) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
});

export class NewWeights {
  private heldBytes = 0;
  private released = false;
  private fd?: number;
  private end = 0;

  /** `file` (created on the first weight past the limit, replacing a killed job's): absent, all stay in memory. */
  constructor(
    private readonly file?: string,
    private readonly memoryLimit = NEW_WEIGHTS_MEMORY_LIMIT,
  ) {}

  /** `values` as a weight stored in `type` (an fp16 model's new weights stay fp16, like its export). */
  weight(name: string, shape: number[], values: Float32Array, type: FloatType = 'float32'): Weight {
    const bytes =
      type === 'float32'
        ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
        : toNarrowBytes(values, type);
    if (!this.file || this.heldBytes + bytes.length <= this.memoryLimit) {
      this.heldBytes += bytes.length;
      return type === 'float32' ? memoryWeight(name, shape, values) : narrowWeight(name, shape, bytes, type);
    }
    const read = this.spill(bytes, name);
    return {
      name,
      shape,
      storedBytesPerElement: floatBytes(type),
      read: () => (type === 'float32' ? new Float32Array(read().buffer) : narrowBytesToFloat(read(), type)),
      ...(type === 'float32' ? {} : { stored: { type, read } }),
    };
  }

  /**
   * A block-quantized linear: only its packed form is kept (an eighth of fp32's bytes at int4; past the limit, in the
   * file), its float values are dequantized when read (the same values: the packed codes are those values on their
   * grid).
   */
  quantized(name: string, shape: number[], quant: QuantizedLinear): Weight {
    const bytes = quantizedArrays(quant).reduce((a, x) => a + x.byteLength, 0);
    let q: QuantizedWeight;
    if (this.file && this.heldBytes + bytes > this.memoryLimit) q = this.spilledQuantized(name, quant);
    else {
      this.heldBytes += bytes;
      q = heldQuantized(quant);
    }
    return { name, shape, storedBytesPerElement: quant.bits / 8, read: () => dequantize(readQuantized(q)), quant: q };
  }

  /** `quant`'s arrays appended to the file, each read back on its own. */
  private spilledQuantized(name: string, quant: QuantizedLinear): QuantizedWeight {
    const [packed, scales, zeroPoints] = quantizedArrays(quant).map((x) =>
      this.spill(new Uint8Array(x.buffer, x.byteOffset, x.byteLength), name),
    );
    return {
      ...quantizedLayout(quant),
      packed,
      scales: () => new Float32Array(scales().buffer),
      ...(quant.zeroPoints ? { zeroPoints } : {}),
    };
  }

  /** Bytes written to the file so far. */
  get spilledBytes(): number {
    return this.end;
  }

  /**
   * Closes and removes the file: the weights read from it are no longer read. Also one this job never opened: a
   * killed job's, left for --resume, must not be renamed into place with the model.
   */
  release(): void {
    this.released = true;
    if (this.fd !== undefined) fs.closeSync(this.fd);
    if (this.file) {
      fs.rmSync(this.file, { force: true });
      live.delete(this.file);
    }
    this.fd = undefined;
  }

  /**
   * `bytes` appended to the file, and their reader. The reader keeps only where they lie (a method of its own, so no
   * closure over the caller's arrays): one that named `bytes` would keep every spilled weight in memory.
   */
  private spill(bytes: Uint8Array, name: string): () => Uint8Array {
    const [at, length] = [this.append(bytes), bytes.length];
    return () => this.read(at, length, name);
  }

  private append(bytes: Uint8Array): number {
    if (this.released) throw new Error(`new weights stored after their file was released`);
    if (this.fd === undefined) {
      this.fd = fs.openSync(this.file!, 'w+');
      live.set(this.file!, this.fd);
    }
    const at = this.end;
    for (let done = 0; done < bytes.length;) done += fs.writeSync(this.fd, bytes, done, bytes.length - done, at + done);
    this.end += bytes.length;
    return at;
  }

  private read(at: number, length: number, name: string): Uint8Array {
    if (this.fd === undefined) throw new Error(`${name}: read after its job's new weights were released`);
    const bytes = new Uint8Array(length);
    readRangeFd(this.fd, bytes, at, (end) => new Error(`${this.file}: ${name} cut short at byte ${end}`));
    return bytes;
  }
}
