// The hidden states between two decoder layers during a layer-by-layer pass, per batch of windows: in memory up to
// a limit, beyond it in files of a temporary folder of their own (design.md "Scale": a 7B model's 64 calibration
// windows of 2048 tokens are 2 GiB of fp32 hidden states, held twice while one layer turns into the next).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ort } from './session';
import { readRange } from '../util/readRange';

/** Hidden states held in memory before later batches go to disk. */
export const HIDDEN_MEMORY_LIMIT = 2 ** 31;

/** Folders not yet released, removed if the process ends first (a cancel, an error). */
const live = new Set<string>();
process.on('exit', () => live.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

export class HiddenStates {
  private readonly held: ort.Tensor[] = [];
  private readonly spilled = new Map<number, { file: string; dims: readonly number[] }>();
  private heldBytes = 0;
  private dir?: string;

  constructor(private readonly memoryLimit = HIDDEN_MEMORY_LIMIT) {}

  /** Batch `b`'s hidden states `[batch, S, D]` (float32). */
  put(b: number, t: ort.Tensor): void {
    const data = t.data as Float32Array;
    if (this.heldBytes + data.byteLength <= this.memoryLimit) {
      this.held[b] = t;
      this.heldBytes += data.byteLength;
      return;
    }
    if (!this.dir) {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'subnet-search-hidden-'));
      live.add(this.dir);
    }
    const file = path.join(this.dir, `${b}.f32`);
    fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.spilled.set(b, { file, dims: t.dims });
  }

  get(b: number): ort.Tensor {
    const held = this.held[b];
    if (held) return held;
    const { file, dims } = this.spilled.get(b)!;
    const values = new Float32Array(dims.reduce((a, x) => a * x, 1));
    readRange(
      file,
      new Uint8Array(values.buffer),
      0,
      (at) => new Error(`${file}: hidden states cut short at byte ${at} of ${values.byteLength}`),
    );
    return new ort.Tensor('float32', values, dims);
  }

  /** How many batches went to disk. */
  get spilledBatches(): number {
    return this.spilled.size;
  }

  /** Drops every batch and removes the files: the next layer's states have replaced these. */
  release(): void {
    this.held.length = 0;
    this.heldBytes = 0;
    if (this.dir) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      live.delete(this.dir);
      this.dir = undefined;
    }
    this.spilled.clear();
  }
}
